//! Random inbound traffic: Poisson arrivals, outcomes by ratio, seeded so runs repeat.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::spec::{CallKind, CallSpec, TrafficConfig};
use crate::{SimError, SimHandle};

/// What a traffic run did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrafficReport {
    pub calls: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub busy: u64,
    pub no_answer: u64,
    pub frames: u64,
}

/// Draws the calls of a traffic run; separate from timing so tests can check the mix.
pub(crate) struct CallMaker {
    rng: ChaCha8Rng,
    config: TrafficConfig,
}

impl CallMaker {
    pub(crate) fn new(config: &TrafficConfig) -> CallMaker {
        CallMaker {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config: config.clone(),
        }
    }

    /// Seconds until the next arrival (exponential, mean 1/rate).
    pub(crate) fn next_gap(&mut self) -> f64 {
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        -u.ln() / self.config.calls_per_second
    }

    pub(crate) fn next_call(&mut self) -> CallSpec {
        let c = &self.config;
        let r: f64 = self.rng.gen();
        let kind = if r < c.answer_ratio {
            CallKind::Answered
        } else if r < c.answer_ratio + c.abandon_ratio {
            CallKind::Abandoned
        } else if self.rng.gen_bool(0.5) {
            CallKind::Busy
        } else {
            CallKind::NoAnswer
        };
        let op = c.operators[self.rng.gen_range(0..c.operators.len())].clone();
        let caller = format!(
            "0{}{:07}",
            self.rng.gen_range(50..100),
            self.rng.gen_range(0..10_000_000)
        );
        let ring = self.rng.gen_range(c.ring_ms.0..=c.ring_ms.1);
        let talk = self.rng.gen_range(c.talk_ms.0..=c.talk_ms.1);
        let mut spec = CallSpec::new(kind);
        spec.caller = caller;
        spec.caller_name = String::new();
        spec.dialed = c.dialed.clone();
        spec.operators = vec![op];
        spec.talk_ms = Some(talk);
        spec.dial_timeout_s = c.dial_timeout_s;
        spec.ring_ms = match kind {
            CallKind::NoAnswer => None,
            CallKind::Busy => Some(ring.min(1000)),
            _ => Some(ring),
        };
        spec
    }
}

pub(crate) async fn run(
    handle: &SimHandle,
    config: &TrafficConfig,
) -> Result<TrafficReport, SimError> {
    config.validate()?;
    let mut maker = CallMaker::new(config);
    let mut report = TrafficReport::default();
    let t0 = Instant::now();
    let end = config.duration.map(|d| t0 + d);
    let mut offset = 0.0f64;
    tracing::info!(rate = config.calls_per_second, max_calls = ?config.max_calls, duration = ?config.duration, "pbx-sim: traffic starts");
    loop {
        if config.max_calls.is_some_and(|m| report.calls >= m) {
            break;
        }
        offset += maker.next_gap();
        let due = t0 + Duration::from_secs_f64(offset);
        if end.is_some_and(|e| due >= e) {
            break;
        }
        if handle.is_shut_down() {
            return Err(SimError::ShutDown);
        }
        tokio::time::sleep_until(due).await;
        let spec = maker.next_call();
        let ids = handle.play(&spec)?;
        report.calls += 1;
        report.frames += ids.frames as u64;
        match spec.kind {
            CallKind::Answered | CallKind::Queue => report.answered += 1,
            CallKind::Abandoned => report.abandoned += 1,
            CallKind::Busy => report.busy += 1,
            CallKind::NoAnswer => report.no_answer += 1,
        }
    }
    tracing::info!(?report, "pbx-sim: traffic done");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_calls_and_the_ratios_hold() {
        let cfg = TrafficConfig {
            operators: vec!["1001".into(), "1002".into()],
            seed: 7,
            ..TrafficConfig::default()
        };
        let mut a = CallMaker::new(&cfg);
        let mut b = CallMaker::new(&cfg);
        let calls: Vec<_> = (0..2000).map(|_| a.next_call()).collect();
        assert_eq!(calls, (0..2000).map(|_| b.next_call()).collect::<Vec<_>>());
        let answered = calls
            .iter()
            .filter(|c| c.kind == CallKind::Answered)
            .count();
        assert!((1500..1700).contains(&answered), "{answered}");
        assert!(calls.iter().any(|c| c.operators == ["1002"]));
    }
}
