//! The embedded Asterisk 22 captures, the roles of their numbers, and the scenarios derived from them.
//!
//! `answered`, `abandoned`, `queue` and the originate survey call are the captured frames with
//! fresh ids. `busy` and `no_answer` were not captured: they are built from the abandoned call's
//! frames (same event types, same field order) with the Dial status and hangup causes Asterisk
//! uses for a 486 Busy Here and for a Dial timeout.

use chrono::Duration as ChronoDuration;

use crate::json::Json;
use crate::template::{ari_time, parse_lines, Line, Roles, Template};

pub(crate) const ANSWERED: &str = include_str!("../data/answered_by_1001.jsonl");
pub(crate) const ABANDONED: &str = include_str!("../data/abandoned_while_ringing.jsonl");
pub(crate) const QUEUE: &str = include_str!("../data/queue_answered_by_1002.jsonl");
pub(crate) const ORIGINATE_CALL: &str = include_str!("../data/originate_survey_call.jsonl");
pub(crate) const ORIGINATE_EXCHANGE: &str = include_str!("../data/originate.json");
pub(crate) const ASTERISK_INFO: &str = include_str!("../data/asterisk_info.json");

/// All templates, compiled once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    /// gaps: ring, talk
    pub answered: Template,
    /// gaps: ring
    pub abandoned: Template,
    /// gaps: ring, talk; operators: [answering member, cancelled member]
    pub queue: Template,
    /// gaps: ring (until 486)
    pub busy: Template,
    /// gaps: ring (until the Dial timeout)
    pub no_answer: Template,
    /// gaps: operator ring, applicant ring, talk. The last frame is the REST response body.
    pub originate: Template,
    pub info: Json,
}

fn inbound_roles(dialed: &str, operators: &[&str]) -> Roles {
    Roles {
        caller: Some("0671234567".into()),
        caller_name: Some("Resident".into()),
        dialed: Some(dialed.into()),
        operators: operators.iter().map(|s| (*s).to_owned()).collect(),
        applicant: None,
        dial_timeout: Some("30".into()),
    }
}

impl Catalog {
    pub(crate) fn load() -> Result<Catalog, crate::SimError> {
        let roles = inbound_roles("1580", &["1001"]);
        let abandoned_lines = parse_lines(ABANDONED);
        let busy = derive_failed_dial(&abandoned_lines, FailedDial::Busy)?;
        let no_answer = derive_failed_dial(&abandoned_lines, FailedDial::NoAnswer)?;

        let mut originate_lines = parse_lines(ORIGINATE_CALL);
        let exchange = Json::parse(ORIGINATE_EXCHANGE)
            .map_err(|e| crate::SimError::Embedded(format!("originate.json: {e}")))?;
        let body = exchange
            .get("response")
            .and_then(|r| r.get("body"))
            .cloned()
            .ok_or_else(|| {
                crate::SimError::Embedded("originate.json has no response.body".into())
            })?;
        originate_lines.push(Line::Json(body));
        let originate_roles = Roles {
            caller: None,
            caller_name: None,
            dialed: Some("1580".into()),
            operators: vec!["1001".into()],
            applicant: Some("0501234567".into()),
            dial_timeout: None,
        };
        let info = Json::parse(ASTERISK_INFO)
            .map_err(|e| crate::SimError::Embedded(format!("asterisk_info.json: {e}")))?;
        Ok(Catalog {
            answered: Template::compile("answered", &parse_lines(ANSWERED), &roles),
            abandoned: Template::compile("abandoned", &abandoned_lines, &roles),
            queue: Template::compile(
                "queue",
                &parse_lines(QUEUE),
                &inbound_roles("1581", &["1002", "1001"]),
            ),
            busy: Template::compile("busy", &busy, &roles),
            no_answer: Template::compile("no_answer", &no_answer, &roles),
            originate: Template::compile("originate", &originate_lines, &originate_roles),
            info,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FailedDial {
    Busy,
    NoAnswer,
}

/// Builds the busy / no-answer call from the abandoned capture (1-based line numbers below).
fn derive_failed_dial(lines: &[Line], kind: FailedDial) -> Result<Vec<Line>, crate::SimError> {
    let get = |n: usize| -> Result<Json, crate::SimError> {
        match lines.get(n - 1) {
            Some(Line::Json(j)) => Ok(j.clone()),
            _ => Err(crate::SimError::Embedded(format!(
                "abandoned_while_ringing.jsonl line {n} is missing"
            ))),
        }
    };
    let channel_of = |n: usize| -> Result<Json, crate::SimError> {
        get(n)?
            .get("channel")
            .cloned()
            .ok_or_else(|| crate::SimError::Embedded(format!("line {n} has no channel")))
    };
    // The moment the caller gave up in the capture: the busy / timeout frames go there.
    let end_ts = get(29)?
        .str_at("timestamp")
        .and_then(|t| chrono::DateTime::parse_from_str(t, crate::template::ARI_TIME_FORMAT).ok())
        .ok_or_else(|| crate::SimError::Embedded("line 29 has no timestamp".into()))?
        .with_timezone(&chrono::Utc);
    let at = |ms: i64| Json::Str(ari_time(end_ts + ChronoDuration::milliseconds(ms)));
    let num = |n: u64| Json::Num(n.into());

    let (cause, cause_txt, status) = match kind {
        FailedDial::Busy => (17, "User busy", "BUSY"),
        FailedDial::NoAnswer => (19, "User alerting, no answer", "NOANSWER"),
    };
    let mut out: Vec<Line> = Vec::new();
    // The peer's channel as last seen: Down for busy (no 180), Ringing for no answer.
    let peer = match kind {
        FailedDial::Busy => {
            out.extend((1..=22).map(|n| lines[n - 1].clone()));
            out.push(lines[28 - 1].clone()); // DeviceStateChanged PJSIP/trunk INUSE
            channel_of(20)?
        }
        FailedDial::NoAnswer => {
            out.extend((1..=28).map(|n| lines[n - 1].clone()));
            channel_of(23)?
        }
    };
    if kind == FailedDial::Busy {
        // The operator's phone answers 486 Busy Here.
        let mut hr = get(29)?;
        hr.set("cause", num(17));
        hr.set("tech_cause", num(486));
        hr.set("timestamp", at(0));
        hr.set("channel", peer.clone());
        out.push(Line::Json(hr));
    }
    let mut dial = get(30)?;
    dial.set("dialstatus", Json::Str(status.into()));
    dial.set("timestamp", at(0));
    dial.set("peer", peer.clone());
    out.push(Line::Json(dial));
    let mut varset = get(31)?;
    varset.set("value", Json::Str(status.into()));
    varset.set("timestamp", at(0));
    out.push(Line::Json(varset));
    let mut destroyed = get(33)?;
    destroyed.set("cause", num(cause));
    destroyed.set("cause_txt", Json::Str(cause_txt.into()));
    destroyed.set(
        "tech_cause",
        num(if kind == FailedDial::Busy { 486 } else { 487 }),
    );
    destroyed.set("timestamp", at(1));
    destroyed.set("channel", peer);
    out.push(Line::Json(destroyed));
    if kind == FailedDial::NoAnswer {
        let mut dev = get(34)?; // PJSIP/1001 NOT_INUSE
        dev.set("timestamp", at(1));
        out.push(Line::Json(dev));
    }
    // Dial returned: the dialplan goes on to Hangup() at priority 3.
    let mut caller = channel_of(31)?;
    if let Some(dp) = caller.get_mut("dialplan") {
        dp.set("priority", num(3));
        dp.set("app_name", Json::Str("Hangup".into()));
        dp.set("app_data", Json::Str(String::new()));
    }
    let mut dialplan = get(4)?;
    dialplan.set("timestamp", at(1));
    dialplan.set("dialplan_app", Json::Str("Hangup".into()));
    dialplan.set("dialplan_app_data", Json::Str(String::new()));
    dialplan.set("channel", caller.clone());
    out.push(Line::Json(dialplan));
    let mut soft = get(32)?;
    soft.remove("tech_cause");
    soft.set("timestamp", at(1));
    soft.set("channel", caller.clone());
    out.push(Line::Json(soft));
    let mut gone = get(35)?;
    gone.set("cause", num(cause));
    gone.set("cause_txt", Json::Str(cause_txt.into()));
    gone.remove("tech_cause");
    gone.set("timestamp", at(2));
    gone.set("channel", caller);
    out.push(Line::Json(gone));
    let mut dev = get(36)?; // PJSIP/trunk NOT_INUSE
    dev.set("timestamp", at(2));
    out.push(Line::Json(dev));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_the_expected_phases() {
        let c = Catalog::load().unwrap();
        assert_eq!(c.answered.gap_count(), 2, "ring, talk");
        assert_eq!(c.abandoned.gap_count(), 1, "ring");
        assert_eq!(c.queue.gap_count(), 2, "ring, talk");
        assert_eq!(c.busy.gap_count(), 1, "ring");
        assert_eq!(c.no_answer.gap_count(), 1, "ring");
        assert_eq!(
            c.originate.gap_count(),
            3,
            "operator ring, applicant ring, talk"
        );
        assert_eq!(c.answered.legs.len(), 2);
        assert_eq!(c.queue.legs.len(), 3);
        assert_eq!(c.originate.legs.len(), 2);
        assert_eq!(c.answered.bridges, 1);
    }

    fn capture_cast(start: &str, gaps_ms: Vec<i64>) -> crate::template::Cast {
        crate::template::Cast {
            leg_ids: vec!["1795859899.0".into(), "1795859899.1".into()],
            leg_names: vec!["PJSIP/trunk-00000000".into(), "PJSIP/1001-00000001".into()],
            leg_protos: vec![
                "1-9631@127.0.0.1".into(),
                "6654cbb3-17f4-4fdd-8cf1-a2e74bc51ee8".into(),
            ],
            bridges: vec!["f4cbe5d3-8538-46b5-8aff-67d9596f3550".into()],
            caller: "0671234567".into(),
            caller_name: "Resident".into(),
            dialed: "1580".into(),
            operators: vec!["1001".into()],
            applicant: String::new(),
            dial_timeout: "30".into(),
            asterisk_id: "02:fc:00:00:00:01".into(),
            app: "cc".into(),
            start: chrono::DateTime::parse_from_str(start, crate::template::ARI_TIME_FORMAT)
                .unwrap()
                .with_timezone(&chrono::Utc),
            gaps_ms,
            speed: 1.0,
        }
    }

    #[test]
    fn rendering_with_the_captured_values_reproduces_the_capture_byte_for_byte() {
        let c = Catalog::load().unwrap();
        let cast = capture_cast("2026-11-28T09:58:19.327+0000", vec![2003, 4005]);
        let frames = c.answered.render(&cast);
        let captured: Vec<&str> = ANSWERED.lines().collect();
        assert_eq!(frames.len(), captured.len());
        for (f, line) in frames.iter().zip(&captured) {
            assert_eq!(f.text, *line);
        }
    }

    #[test]
    fn durations_move_later_frames_and_duration_variables() {
        let c = Catalog::load().unwrap();
        let cast = capture_cast("2026-11-28T09:58:19.327+0000", vec![10_000, 60_000]);
        let frames = c.answered.render(&cast);
        let answer = frames
            .iter()
            .find(|f| f.text.contains("\"dialstatus\":\"ANSWER\""))
            .unwrap();
        assert!((10_000..10_020).contains(&answer.at_ms), "{}", answer.at_ms);
        let last = frames.last().unwrap();
        assert!((70_000..70_030).contains(&last.at_ms), "{}", last.at_ms);
        assert!(frames.iter().any(|f| f
            .text
            .contains("\"variable\":\"ANSWEREDTIME_MS\",\"value\":\"60003\"")));
        assert!(frames.iter().any(|f| f
            .text
            .contains("\"variable\":\"ANSWEREDTIME\",\"value\":\"60\"")));
        assert!(frames.iter().any(|f| f
            .text
            .contains("\"variable\":\"DIALEDTIME_MS\",\"value\":\"70007\"")));
        // creationtime stays at the call's start; the hangup is stamped 70 s later.
        assert!(last
            .text
            .contains("\"creationtime\":\"2026-11-28T09:58:19.329+0000\""));
        assert!(last.text.contains("\"timestamp\":\"2026-11-28T09:59:29."));
    }
}
