//! The simulator's leaky bucket (the platform's NGINX limiter) and the seeded dice that decide faults.

use std::time::Instant;

/// A leaky bucket: each request adds one, the bucket drains at `rate` per second, and a request that would overflow
/// `burst` is refused.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    level: f64,
    last: Option<Instant>,
}

impl Bucket {
    pub fn new(rate: f64, burst: Option<u32>) -> Bucket {
        let burst = burst.map_or_else(|| rate.ceil().max(1.0), f64::from);
        Bucket {
            rate,
            burst,
            level: 0.0,
            last: None,
        }
    }

    /// Admits one request at `now`, or says how many seconds until one would fit.
    pub fn take(&mut self, now: Instant) -> Result<(), f64> {
        if let Some(last) = self.last {
            let drained = now.saturating_duration_since(last).as_secs_f64() * self.rate;
            self.level = (self.level - drained).max(0.0);
        }
        self.last = Some(now);
        if self.level + 1.0 > self.burst {
            return Err((self.level + 1.0 - self.burst) / self.rate);
        }
        self.level += 1.0;
        Ok(())
    }
}

/// What a fault roll is for; each purpose gets its own dice so that `fail` and `drop` are independent.
#[derive(Clone, Copy)]
pub enum Dice {
    Fail = 0x6661696c,
    Drop = 0x64726f70,
}

/// A number in [0, 1) fixed by (seed, purpose, key, attempt): the same run gives the same faults.
pub fn roll(seed: u64, dice: Dice, key: &str, attempt: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mixed = splitmix(splitmix(seed ^ (dice as u64)) ^ h ^ splitmix(attempt));
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_admits_a_burst_then_drains_at_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(10.0, Some(3));
        for _ in 0..3 {
            assert!(bucket.take(start).is_ok());
        }
        let wait = bucket.take(start).unwrap_err();
        assert!((wait - 0.1).abs() < 1e-9, "{wait}");
        assert!(bucket.take(start + Duration::from_millis(100)).is_ok());
        assert!(bucket.take(start + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn default_burst_is_one_second_of_requests() {
        let now = Instant::now();
        let mut bucket = Bucket::new(2.5, None);
        assert!((0..3).all(|_| bucket.take(now).is_ok()));
        assert!(bucket.take(now).is_err());
    }

    #[test]
    fn rolls_are_repeatable_and_spread() {
        assert_eq!(
            roll(7, Dice::Fail, "70B3D5E756000999", 1),
            roll(7, Dice::Fail, "70B3D5E756000999", 1)
        );
        assert_ne!(
            roll(7, Dice::Fail, "70B3D5E756000999", 1),
            roll(7, Dice::Drop, "70B3D5E756000999", 1)
        );
        let below = (0..10_000)
            .filter(|i| roll(1, Dice::Fail, &format!("{i:016X}"), 1) < 0.3)
            .count();
        assert!((2_700..3_300).contains(&below), "{below}");
    }
}
