//! Validates every captured frame against Asterisk's own api-docs models, and checks that our
//! serde types parse every captured frame into a known variant and serialize it back unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use contactd_ari::events::{AriEvent, DEFAULT_MAX_FRAME_LEN};
use contactd_ari::models::{AsteriskInfo, Bridge, Channel};
use contactd_ari::schema::{Schema, EVENT_API_DOCS};

fn schema() -> Schema {
    Schema::load_dir(&common::shared_ari().join("api-docs"), EVENT_API_DOCS)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_captured_frame_matches_the_api_docs() {
    let schema = schema();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (file, frames) in common::all_captures() {
        for (i, frame) in frames.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(frame).unwrap();
            for violation in schema.validate_message(&v) {
                problems.push(format!("{file}:{}: {violation}", i + 1));
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "only {checked} frames found");
    assert!(
        problems.is_empty(),
        "schema violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn rest_bodies_match_the_api_docs() {
    let schema = schema();
    let info = common::capture_json("asterisk_info.json");
    assert_eq!(schema.validate("AsteriskInfo", &info), vec![]);
    let channels = common::capture_json("channels_while_ringing.json");
    for c in channels.as_array().unwrap() {
        assert_eq!(schema.validate("Channel", c), vec![]);
    }
    let talking = common::capture_json("bridges_while_talking.json");
    for b in talking["GET /ari/bridges"]["body"].as_array().unwrap() {
        assert_eq!(schema.validate("Bridge", b), vec![]);
        let _: Bridge = serde_json::from_value(b.clone()).unwrap();
    }
    let originate = common::capture_json("originate.json");
    assert_eq!(
        schema.validate("Channel", &originate["response"]["body"]),
        vec![]
    );
    // Our REST types read the same bodies.
    let info: AsteriskInfo = serde_json::from_value(info).unwrap();
    assert!(info.startup_time().is_some());
    let chans: Vec<Channel> = serde_json::from_value(channels).unwrap();
    assert_eq!(chans.len(), 2);
}

#[test]
fn the_validator_catches_a_broken_frame() {
    let schema = schema();
    let frames = common::capture("answered_by_1001.jsonl");
    let mut v: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
    v["channel"].as_object_mut().unwrap().remove("caller");
    v["channel"]["state"] = "Sleeping".into();
    v["timestamp"] = 5.into();
    let paths: Vec<String> = schema
        .validate_message(&v)
        .into_iter()
        .map(|x| x.path)
        .collect();
    assert!(paths.contains(&"$.channel.caller".to_owned()), "{paths:?}");
    assert!(paths.contains(&"$.channel.state".to_owned()), "{paths:?}");
    assert!(paths.contains(&"$.timestamp".to_owned()), "{paths:?}");
}

#[test]
fn every_captured_frame_round_trips_through_our_types() {
    let mut seen = std::collections::BTreeSet::new();
    for (file, frames) in common::all_captures() {
        for (i, frame) in frames.iter().enumerate() {
            let ev = contactd_ari::parse_frame(frame, DEFAULT_MAX_FRAME_LEN)
                .unwrap_or_else(|e| panic!("{file}:{}: {e}", i + 1));
            if let AriEvent::Unknown { event_type, .. } = &ev {
                panic!("{file}:{}: {event_type} parsed as Unknown", i + 1);
            }
            assert!(AriEvent::KNOWN_TYPES.contains(&ev.event_type()));
            seen.insert(ev.event_type().to_owned());
            let back = serde_json::to_value(&ev).unwrap();
            let orig: serde_json::Value = serde_json::from_str(frame).unwrap();
            assert_eq!(back, orig, "{file}:{} does not round-trip", i + 1);
        }
    }
    // Everything the captures contain (StasisStart/End only appear for channels in our app).
    for t in [
        "ChannelCreated",
        "ChannelStateChange",
        "ChannelDialplan",
        "Dial",
        "ChannelCallerId",
        "ChannelConnectedLine",
        "ChannelEnteredBridge",
        "ChannelLeftBridge",
        "ChannelHangupRequest",
        "ChannelDestroyed",
        "ChannelVarset",
        "BridgeCreated",
        "BridgeDestroyed",
        "DeviceStateChanged",
    ] {
        assert!(seen.contains(t), "no {t} in the captures");
    }
}

#[test]
fn our_models_agree_with_the_api_docs_on_required_fields() {
    // For each modelled event, dropping any required property must fail our parse too, and
    // dropping an optional one must not.
    let schema = schema();
    let frames = common::all_captures();
    for t in AriEvent::KNOWN_TYPES {
        let Some(frame) = frames
            .iter()
            .flat_map(|(_, f)| f)
            .find(|f| serde_json::from_str::<serde_json::Value>(f).unwrap()["type"] == *t)
        else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(frame).unwrap();
        for (name, prop) in schema.effective_properties(t) {
            if name == "type" || v.get(&name).is_none() {
                continue;
            }
            let mut cut = v.clone();
            cut.as_object_mut().unwrap().remove(&name);
            let res = contactd_ari::parse_frame(&cut.to_string(), DEFAULT_MAX_FRAME_LEN);
            assert_eq!(
                res.is_err(),
                prop.required,
                "{t}.{name}: required={} but our parse gave {res:?}",
                prop.required
            );
        }
    }
}
