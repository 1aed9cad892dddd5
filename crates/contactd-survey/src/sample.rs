//! The random source and uniform selection without replacement. The selection algorithm is
//! written out here rather than taken from `rand::seq`, so that a stored draw replays identically
//! whatever `rand` version the daemon is built with: only the ChaCha20 key stream is relied on.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// A ChaCha20 stream for one purpose of one draw: the key is SHA-256 of the algorithm tag, the
/// purpose, the seed and a label (e.g. the executor code). Each stratum having its own stream
/// means that a change in one executor's requests does not reshuffle every other executor.
pub(crate) fn stream(seed: u64, purpose: &str, label: &[u8]) -> ChaCha20Rng {
    let mut h = Sha256::new();
    h.update(crate::ALGORITHM.as_bytes());
    h.update([0]);
    h.update(purpose.as_bytes());
    h.update([0]);
    h.update(seed.to_le_bytes());
    h.update((label.len() as u64).to_le_bytes());
    h.update(label);
    let key: [u8; 32] = h.finalize().into();
    ChaCha20Rng::from_seed(key)
}

/// A uniform integer in `0..n` (`n > 0`), without modulo bias (Lemire's multiply-and-reject).
pub(crate) fn below(rng: &mut impl RngCore, n: usize) -> usize {
    let n = n.max(1) as u64;
    // 2^64 mod n: products whose low half falls below it would favour small results.
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as usize;
        }
    }
}

/// Partial Fisher–Yates: moves a uniform random `k`-subset of `items` to the front. Returns
/// (chosen, not chosen). Every `k`-subset is equally likely.
pub(crate) fn choose<T>(rng: &mut impl RngCore, mut items: Vec<T>, k: usize) -> (Vec<T>, Vec<T>) {
    let k = k.min(items.len());
    for i in 0..k {
        let j = i + below(rng, items.len() - i);
        items.swap(i, j);
    }
    let rest = items.split_off(k);
    (items, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_on_seed_purpose_and_label() {
        let a = stream(1, "stratum", b"A").next_u64();
        assert_eq!(a, stream(1, "stratum", b"A").next_u64());
        assert_ne!(a, stream(2, "stratum", b"A").next_u64());
        assert_ne!(a, stream(1, "applicant", b"A").next_u64());
        assert_ne!(a, stream(1, "stratum", b"B").next_u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = stream(7, "test", b"");
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[below(&mut rng, 7)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(below(&mut rng, 1), 0);
    }

    #[test]
    fn choose_partitions_the_items() {
        let mut rng = stream(3, "test", b"");
        let (chosen, rest) = choose(&mut rng, (0..10).collect(), 4);
        assert_eq!(chosen.len(), 4);
        let mut all: Vec<i32> = chosen.into_iter().chain(rest).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let (chosen, rest) = choose(&mut rng, vec![1, 2], 5);
        assert_eq!((chosen.len(), rest.len()), (2, 0));
    }
}
