//! Frame templates compiled from captured Asterisk frames, rendered per call with fresh ids.
//!
//! A captured `.jsonl` line is parsed once into an order-preserving tree and turned into a list of
//! literal JSON text and holes (channel ids, names, SIP call ids, bridge ids, numbers, timestamps,
//! duration variables). Rendering a call only concatenates strings, so 200 calls per second with
//! ~30–90 frames each cost little, and every field keeps the order and spelling Asterisk used.

use std::collections::HashMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use crate::json::{push_json_escaped, Json};

/// Asterisk's timestamp format: `2026-11-28T09:58:19.327+0000`.
pub const ARI_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%z";

/// Formats a time the way ARI does.
pub fn ari_time(t: DateTime<Utc>) -> String {
    t.format(ARI_TIME_FORMAT).to_string()
}

fn parse_ari_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, ARI_TIME_FORMAT)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Gaps longer than this between consecutive frames are the parameterised phases (ring, talk).
const GAP_THRESHOLD_MS: i64 = 500;

/// Variables whose value is a duration; `X_MS` holds milliseconds, `X` whole seconds.
const DURATION_VARS: &[&str] = &[
    "ANSWEREDTIME",
    "DIALEDTIME",
    "RINGTIME",
    "PROGRESSTIME",
    "QUEUEWAIT",
];

/// A hole in a template.
#[derive(Debug, Clone, PartialEq)]
enum Var {
    LegId(usize),
    LegName(usize),
    LegProto(usize),
    Bridge(usize),
    Caller,
    CallerName,
    Dialed,
    Op(usize),
    Applicant,
    DialTimeout,
    /// A timestamp, as milliseconds after the capture's first frame.
    Time(i64),
    /// A duration variable: captured milliseconds and the gaps it spans.
    Dur {
        ms: i64,
        mask: u64,
        secs: bool,
    },
    AsteriskId,
    App,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    /// JSON text, already escaped.
    Lit(String),
    /// The escaped content of a JSON string (the quotes are in the neighbouring literals).
    Var(Var),
}

#[derive(Debug, Clone, Default)]
struct Pieces(Vec<Piece>);

impl Pieces {
    fn lit(&mut self, s: &str) {
        if let Some(Piece::Lit(last)) = self.0.last_mut() {
            last.push_str(s);
        } else {
            self.0.push(Piece::Lit(s.to_owned()));
        }
    }
    fn var(&mut self, v: Var) {
        self.0.push(Piece::Var(v));
    }
    fn extend(&mut self, other: &[Piece]) {
        for p in other {
            match p {
                Piece::Lit(s) => self.lit(s),
                Piece::Var(v) => self.var(v.clone()),
            }
        }
    }
}

/// What a captured value stands for, as given by the scenario that owns the capture.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub caller: Option<String>,
    pub caller_name: Option<String>,
    pub dialed: Option<String>,
    pub operators: Vec<String>,
    pub applicant: Option<String>,
    pub dial_timeout: Option<String>,
}

/// Which endpoint a leg belongs to (the part of `PJSIP/1001-00000001` before the counter).
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// A fixed endpoint such as `trunk`.
    Literal(String),
    /// The `i`-th operator of the call.
    Operator(usize),
}

/// A channel of the template.
#[derive(Debug, Clone)]
pub struct LegTpl {
    /// `PJSIP` from `PJSIP/1001-00000001`.
    pub tech: String,
    pub endpoint: Endpoint,
    /// Capture offset of the first frame that shows the channel.
    pub created_ms: i64,
    /// Whether the SIP call id is sipp-style (`1-9631@127.0.0.1`) rather than a UUID.
    pub sipp_call_id: bool,
}

#[derive(Debug, Clone, Copy)]
struct Gap {
    /// The middle of the quiet period, in capture milliseconds.
    mid_ms: i64,
    len_ms: i64,
}

#[derive(Debug, Clone)]
enum EffectTpl {
    Create { leg: usize, snapshot: Pieces },
    Update { leg: usize, snapshot: Pieces },
    Destroy { leg: usize },
}

#[derive(Debug, Clone)]
struct FrameTpl {
    at_ms: i64,
    pieces: Pieces,
    effects: Vec<EffectTpl>,
}

/// One line of a capture: a JSON frame or (for replays of damaged files) raw text.
#[derive(Debug, Clone)]
pub enum Line {
    Json(Json),
    Raw(String),
}

/// A compiled capture.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    frames: Vec<FrameTpl>,
    pub legs: Vec<LegTpl>,
    pub bridges: usize,
    gaps: Vec<Gap>,
}

/// The values one call fills into a template.
#[derive(Debug, Clone)]
pub struct Cast {
    pub leg_ids: Vec<String>,
    pub leg_names: Vec<String>,
    pub leg_protos: Vec<String>,
    pub bridges: Vec<String>,
    pub caller: String,
    pub caller_name: String,
    pub dialed: String,
    pub operators: Vec<String>,
    pub applicant: String,
    pub dial_timeout: String,
    pub asterisk_id: String,
    pub app: String,
    pub start: DateTime<Utc>,
    /// Wanted length of each gap in milliseconds; missing entries keep the captured length.
    pub gaps_ms: Vec<i64>,
    /// Playback speed-up: 2.0 plays twice as fast (timestamps are compressed alike).
    pub speed: f64,
}

/// A change to the PBX's channel list caused by a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Create { id: String, snapshot: String },
    Update { id: String, snapshot: String },
    Destroy { id: String },
}

/// A frame ready to send.
#[derive(Debug, Clone)]
pub struct RenderedFrame {
    /// Milliseconds after the call's start (already divided by the speed-up).
    pub at_ms: i64,
    pub text: String,
    pub effects: Vec<Effect>,
}

struct Compiler<'a> {
    origin: DateTime<Utc>,
    app: Option<String>,
    leg_ids: HashMap<String, usize>,
    full: HashMap<String, Vec<Piece>>,
    gaps: &'a [Gap],
    /// Captured `X_MS` values, to render the whole-second `X` consistently.
    ms_values: HashMap<String, i64>,
}

impl Template {
    /// Compiles captured lines. `roles` names the captured numbers that a call replaces.
    pub fn compile(name: &str, lines: &[Line], roles: &Roles) -> Template {
        let jsons: Vec<&Json> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Json(j) => Some(j),
                Line::Raw(_) => None,
            })
            .collect();
        let origin = jsons
            .iter()
            .find_map(|j| j.str_at("timestamp").and_then(parse_ari_time))
            .unwrap_or_default();
        let app = jsons
            .iter()
            .find_map(|j| j.str_at("application"))
            .map(str::to_owned);

        // Frame times, in file order (a raw line reuses the previous time).
        let mut times = Vec::with_capacity(lines.len());
        let mut last = 0i64;
        for line in lines {
            if let Line::Json(j) = line {
                if let Some(t) = j.str_at("timestamp").and_then(parse_ari_time) {
                    last = (t - origin).num_milliseconds();
                }
            }
            times.push(last);
        }
        let mut gaps = Vec::new();
        let mut max_so_far = times.first().copied().unwrap_or(0);
        for &t in &times {
            if t - max_so_far > GAP_THRESHOLD_MS {
                gaps.push(Gap {
                    mid_ms: max_so_far + (t - max_so_far) / 2,
                    len_ms: t - max_so_far,
                });
            }
            max_so_far = max_so_far.max(t);
        }

        // Channels: every channel object seen, in order of first appearance.
        let mut legs: Vec<LegTpl> = Vec::new();
        let mut leg_ids: HashMap<String, usize> = HashMap::new();
        let mut full: HashMap<String, Vec<Piece>> = HashMap::new();
        let mut bridges = 0usize;
        for j in &jsons {
            for key in ["channel", "caller", "peer"] {
                let Some(ch) = j.get(key) else { continue };
                let (Some(id), Some(name)) = (ch.str_at("id"), ch.str_at("name")) else {
                    continue;
                };
                let idx = match leg_ids.get(id) {
                    Some(&i) => i,
                    None => {
                        let i = legs.len();
                        let (tech, endpoint) = split_channel_name(name);
                        let endpoint = match roles.operators.iter().position(|o| o == endpoint) {
                            Some(op) => Endpoint::Operator(op),
                            None => Endpoint::Literal(endpoint.to_owned()),
                        };
                        let created_ms = ch
                            .str_at("creationtime")
                            .and_then(parse_ari_time)
                            .map(|c| (c - origin).num_milliseconds())
                            .unwrap_or(0);
                        legs.push(LegTpl {
                            tech: tech.to_owned(),
                            endpoint,
                            created_ms,
                            sipp_call_id: false,
                        });
                        leg_ids.insert(id.to_owned(), i);
                        full.insert(id.to_owned(), vec![Piece::Var(Var::LegId(i))]);
                        full.insert(name.to_owned(), vec![Piece::Var(Var::LegName(i))]);
                        i
                    }
                };
                if let Some(proto) = ch.str_at("protocol_id").filter(|p| !p.is_empty()) {
                    if !full.contains_key(proto) {
                        legs[idx].sipp_call_id = proto.contains('@');
                        full.insert(proto.to_owned(), vec![Piece::Var(Var::LegProto(idx))]);
                    }
                }
            }
            if j.str_at("type") == Some("BridgeCreated") {
                if let Some(id) = j.get("bridge").and_then(|b| b.str_at("id")) {
                    if !full.contains_key(id) {
                        full.insert(id.to_owned(), vec![Piece::Var(Var::Bridge(bridges))]);
                        bridges += 1;
                    }
                }
            }
        }
        // Numbers named by the scenario, and the strings built from them.
        let lit = |s: &str| {
            let mut o = String::new();
            push_json_escaped(&mut o, s);
            Piece::Lit(o)
        };
        if let Some(c) = &roles.caller {
            full.insert(c.clone(), vec![Piece::Var(Var::Caller)]);
        }
        if let Some(c) = &roles.caller_name {
            full.insert(c.clone(), vec![Piece::Var(Var::CallerName)]);
        }
        if let Some(d) = &roles.dialed {
            full.insert(d.clone(), vec![Piece::Var(Var::Dialed)]);
        }
        for (i, op) in roles.operators.iter().enumerate() {
            full.insert(op.clone(), vec![Piece::Var(Var::Op(i))]);
            full.insert(
                format!("PJSIP/{op}"),
                vec![lit("PJSIP/"), Piece::Var(Var::Op(i))],
            );
            if let Some(t) = &roles.dial_timeout {
                full.insert(
                    format!("PJSIP/{op},{t}"),
                    vec![
                        lit("PJSIP/"),
                        Piece::Var(Var::Op(i)),
                        lit(","),
                        Piece::Var(Var::DialTimeout),
                    ],
                );
            }
        }
        if let Some(a) = &roles.applicant {
            full.insert(a.clone(), vec![Piece::Var(Var::Applicant)]);
            full.insert(
                format!("{a}@trunk"),
                vec![Piece::Var(Var::Applicant), lit("@trunk")],
            );
            full.insert(
                format!("PJSIP/{a}@trunk,30"),
                vec![lit("PJSIP/"), Piece::Var(Var::Applicant), lit("@trunk,30")],
            );
            full.insert(
                format!("survey call to {a}"),
                vec![lit("survey call to "), Piece::Var(Var::Applicant)],
            );
        }

        let mut ms_values = HashMap::new();
        for j in &jsons {
            if let (Some(var), Some(val)) = (j.str_at("variable"), j.str_at("value")) {
                if var.ends_with("_MS") {
                    if let Ok(ms) = val.parse::<i64>() {
                        ms_values.insert(var.to_owned(), ms);
                    }
                }
            }
        }
        let mut compiler = Compiler {
            origin,
            app,
            leg_ids,
            full,
            gaps: &gaps,
            ms_values,
        };

        let mut frames = Vec::with_capacity(lines.len());
        for (line, &at_ms) in lines.iter().zip(&times) {
            let frame = match line {
                Line::Raw(raw) => FrameTpl {
                    at_ms,
                    pieces: Pieces(vec![Piece::Lit(raw.clone())]),
                    effects: Vec::new(),
                },
                Line::Json(j) => compiler.frame(j, at_ms),
            };
            frames.push(frame);
        }
        Template {
            name: name.to_owned(),
            frames,
            legs,
            bridges,
            gaps,
        }
    }

    /// Number of parameterised quiet periods (ring, talk, …) found in the capture.
    #[cfg(test)]
    pub fn gap_count(&self) -> usize {
        self.gaps.len()
    }

    /// Number of frames a call of this template sends.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// When leg `i` appears, in milliseconds after the call's start, for `cast`'s gaps and speed.
    pub fn leg_created_ms(&self, i: usize, gaps_ms: &[i64], speed: f64) -> i64 {
        let t = self.legs.get(i).map(|l| l.created_ms).unwrap_or(0);
        scale(self.adjust(t, gaps_ms), speed)
    }

    fn adjust(&self, t: i64, gaps_ms: &[i64]) -> i64 {
        let mut out = t;
        for (k, g) in self.gaps.iter().enumerate() {
            if g.mid_ms <= t {
                if let Some(want) = gaps_ms.get(k) {
                    out += want - g.len_ms;
                }
            }
        }
        out
    }

    fn dur(&self, ms: i64, mask: u64, gaps_ms: &[i64]) -> i64 {
        let mut out = ms;
        for (k, g) in self.gaps.iter().enumerate() {
            if k < 64 && mask & (1 << k) != 0 {
                if let Some(want) = gaps_ms.get(k) {
                    out += want - g.len_ms;
                }
            }
        }
        out.max(0)
    }

    /// Renders every frame of one call.
    pub fn render(&self, cast: &Cast) -> Vec<RenderedFrame> {
        let mut out = Vec::with_capacity(self.frames.len());
        let mut buf = String::new();
        for f in &self.frames {
            let text = self.render_pieces(&f.pieces, cast, &mut buf);
            let effects = f
                .effects
                .iter()
                .map(|e| match e {
                    EffectTpl::Create { leg, snapshot } => Effect::Create {
                        id: leg_value(&cast.leg_ids, *leg),
                        snapshot: self.render_pieces(snapshot, cast, &mut buf),
                    },
                    EffectTpl::Update { leg, snapshot } => Effect::Update {
                        id: leg_value(&cast.leg_ids, *leg),
                        snapshot: self.render_pieces(snapshot, cast, &mut buf),
                    },
                    EffectTpl::Destroy { leg } => Effect::Destroy {
                        id: leg_value(&cast.leg_ids, *leg),
                    },
                })
                .collect();
            out.push(RenderedFrame {
                at_ms: scale(self.adjust(f.at_ms, &cast.gaps_ms), cast.speed).max(0),
                text,
                effects,
            });
        }
        out
    }

    fn render_pieces(&self, pieces: &Pieces, cast: &Cast, scratch: &mut String) -> String {
        let mut out = String::with_capacity(pieces.0.iter().map(piece_len).sum::<usize>() + 64);
        for p in &pieces.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(v) => {
                    scratch.clear();
                    let s: &str = match v {
                        Var::LegId(i) => cast.leg_ids.get(*i).map_or("", String::as_str),
                        Var::LegName(i) => cast.leg_names.get(*i).map_or("", String::as_str),
                        Var::LegProto(i) => cast.leg_protos.get(*i).map_or("", String::as_str),
                        Var::Bridge(i) => cast.bridges.get(*i).map_or("", String::as_str),
                        Var::Caller => &cast.caller,
                        Var::CallerName => &cast.caller_name,
                        Var::Dialed => &cast.dialed,
                        Var::Op(i) => cast.operators.get(*i).map_or("", String::as_str),
                        Var::Applicant => &cast.applicant,
                        Var::DialTimeout => &cast.dial_timeout,
                        Var::AsteriskId => &cast.asterisk_id,
                        Var::App => &cast.app,
                        Var::Time(t) => {
                            let ms = scale(self.adjust(*t, &cast.gaps_ms), cast.speed);
                            let at = cast.start + ChronoDuration::milliseconds(ms);
                            scratch.push_str(&ari_time(at));
                            scratch.as_str()
                        }
                        Var::Dur { ms, mask, secs } => {
                            let v = self.dur(*ms, *mask, &cast.gaps_ms);
                            let v = if *secs { v / 1000 } else { v };
                            scratch.push_str(&v.to_string());
                            scratch.as_str()
                        }
                    };
                    push_json_escaped(&mut out, s);
                }
            }
        }
        out
    }
}

fn piece_len(p: &Piece) -> usize {
    match p {
        Piece::Lit(s) => s.len(),
        Piece::Var(_) => 24,
    }
}

fn leg_value(values: &[String], i: usize) -> String {
    values.get(i).cloned().unwrap_or_default()
}

fn scale(ms: i64, speed: f64) -> i64 {
    if speed > 0.0 && (speed - 1.0).abs() > f64::EPSILON {
        (ms as f64 / speed).round() as i64
    } else {
        ms
    }
}

/// Splits `PJSIP/1001-00000001` into (`PJSIP`, `1001`).
pub fn split_channel_name(name: &str) -> (&str, &str) {
    let (tech, rest) = name.split_once('/').unwrap_or(("PJSIP", name));
    let endpoint = rest.rsplit_once('-').map_or(rest, |(e, _)| e);
    (tech, endpoint)
}

impl Compiler<'_> {
    fn frame(&mut self, j: &Json, at_ms: i64) -> FrameTpl {
        let mut pieces = Pieces::default();
        self.value(j, None, None, at_ms, &mut pieces);
        let kind = j.str_at("type").unwrap_or("");
        let mut effects = Vec::new();
        for key in ["channel", "caller", "peer"] {
            if key != "channel" && kind != "Dial" {
                continue;
            }
            let Some(ch) = j.get(key) else { continue };
            let Some(&leg) = ch.str_at("id").and_then(|id| self.leg_ids.get(id)) else {
                continue;
            };
            let mut snapshot = Pieces::default();
            self.value(ch, None, None, at_ms, &mut snapshot);
            effects.push(match (kind, key) {
                ("ChannelCreated", "channel") => EffectTpl::Create { leg, snapshot },
                ("ChannelDestroyed", "channel") => EffectTpl::Destroy { leg },
                _ => EffectTpl::Update { leg, snapshot },
            });
        }
        FrameTpl {
            at_ms,
            pieces,
            effects,
        }
    }

    fn value(
        &self,
        j: &Json,
        key: Option<&str>,
        parent: Option<&Json>,
        at_ms: i64,
        out: &mut Pieces,
    ) {
        match j {
            Json::Obj(fields) => {
                out.lit("{");
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.lit(",");
                    }
                    let mut ks = String::new();
                    crate::json::push_json_string(&mut ks, k);
                    ks.push(':');
                    out.lit(&ks);
                    self.value(v, Some(k), Some(j), at_ms, out);
                }
                out.lit("}");
            }
            Json::Arr(items) => {
                out.lit("[");
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.lit(",");
                    }
                    self.value(v, key, parent, at_ms, out);
                }
                out.lit("]");
            }
            Json::Str(s) => {
                out.lit("\"");
                self.string(s, key, parent, at_ms, out);
                out.lit("\"");
            }
            other => out.lit(&other.to_compact()),
        }
    }

    fn string(
        &self,
        s: &str,
        key: Option<&str>,
        parent: Option<&Json>,
        at_ms: i64,
        out: &mut Pieces,
    ) {
        let literal = |out: &mut Pieces| {
            let mut o = String::new();
            push_json_escaped(&mut o, s);
            out.lit(&o);
        };
        match key {
            Some("timestamp" | "creationtime") => {
                if let Some(t) = parse_ari_time(s) {
                    out.var(Var::Time((t - self.origin).num_milliseconds()));
                } else {
                    literal(out);
                }
                return;
            }
            Some("asterisk_id") => {
                out.var(Var::AsteriskId);
                return;
            }
            Some("application") if self.app.as_deref() == Some(s) => {
                out.var(Var::App);
                return;
            }
            Some("value") => {
                if let Some(var) = parent.and_then(|p| p.str_at("variable")) {
                    if let Some(d) = self.duration(var, s, at_ms) {
                        out.var(d);
                        return;
                    }
                }
            }
            _ => {}
        }
        match self.full.get(s) {
            Some(pieces) if !s.is_empty() => out.extend(pieces),
            _ => literal(out),
        }
    }

    fn duration(&self, var: &str, value: &str, at_ms: i64) -> Option<Var> {
        let base = var.strip_suffix("_MS").unwrap_or(var);
        if !DURATION_VARS.contains(&base) {
            return None;
        }
        let secs = base == var;
        let ms = if secs {
            value.parse::<i64>().ok()?;
            *self.ms_values.get(&format!("{base}_MS"))?
        } else {
            value.parse::<i64>().ok()?
        };
        let mut mask = 0u64;
        for (k, g) in self.gaps.iter().enumerate() {
            if k < 64 && g.mid_ms >= at_ms - ms && g.mid_ms <= at_ms {
                mask |= 1 << k;
            }
        }
        Some(Var::Dur { ms, mask, secs })
    }
}

/// Splits a `.jsonl` text into lines, keeping unparsable lines as raw text.
pub fn parse_lines(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match Json::parse(l) {
            Ok(j) => Line::Json(j),
            Err(_) => Line::Raw(l.to_owned()),
        })
        .collect()
}
