//! The demo's synthetic API traffic: request latencies per endpoint with occasional bursts, from a seeded
//! generator so that tests are deterministic.

/// One generated request: endpoint, latency in ms, whether it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The endpoint path, e.g. `/checkout`.
    pub endpoint: &'static str,
    /// Latency in milliseconds.
    pub latency_ms: f64,
    /// True for a failed request.
    pub error: bool,
}

/// Endpoints with their base latency (ms) and request share.
const ENDPOINTS: [(&str, f64, u32); 4] = [
    ("/checkout", 120.0, 2),
    ("/search", 45.0, 5),
    ("/login", 80.0, 1),
    ("/feed", 30.0, 8),
];

/// A seeded generator of request latencies (log-normal-ish around each endpoint's base) with bursts:
/// every so often one endpoint slows down 5–10x and fails more for a few seconds.
#[derive(Debug, Clone)]
pub struct LatencyGenerator {
    state: u64,
    burst: Option<(usize, u32, f64)>,
}

impl LatencyGenerator {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        LatencyGenerator {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
            burst: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The requests of one tick (`ticks_per_second` ticks make a second of traffic at ~`rps`).
    pub fn tick(&mut self, rps: u32, ticks_per_second: u32) -> Vec<Request> {
        match self.burst {
            Some((which, left, factor)) if left > 1 => self.burst = Some((which, left - 1, factor)),
            Some(_) => self.burst = None,
            None => {
                if self.unit() < 0.02 {
                    let which = (self.next_u64() % ENDPOINTS.len() as u64) as usize;
                    let factor = 5.0 + self.unit() * 5.0;
                    self.burst = Some((which, ticks_per_second * 3, factor));
                }
            }
        }
        let n = (rps / ticks_per_second.max(1)).max(1);
        let share_total: u32 = ENDPOINTS.iter().map(|e| e.2).sum();
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let mut pick = (self.next_u64() % share_total as u64) as u32;
            let mut idx = 0;
            for (i, e) in ENDPOINTS.iter().enumerate() {
                if pick < e.2 {
                    idx = i;
                    break;
                }
                pick -= e.2;
            }
            let (endpoint, base, _) = ENDPOINTS[idx];
            // Sum of uniforms ~ normal; exp of it ~ log-normal.
            let z = (0..4).map(|_| self.unit()).sum::<f64>() - 2.0;
            let mut latency = base * (0.6 * z).exp();
            let mut error_p = 0.01;
            if let Some((b, _, factor)) = self.burst {
                if b == idx {
                    latency *= factor;
                    error_p = 0.15;
                }
            }
            let error = self.unit() < error_p;
            out.push(Request {
                endpoint,
                latency_ms: latency,
                error,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_traffic_and_bursts_happen() {
        let mut a = LatencyGenerator::new(7);
        let mut b = LatencyGenerator::new(7);
        assert_eq!(a.tick(1000, 10), b.tick(1000, 10));
        let mut g = LatencyGenerator::new(1);
        let mut max_seen: f64 = 0.0;
        let mut total = 0;
        for _ in 0..2000 {
            for r in g.tick(200, 10) {
                assert!(r.latency_ms.is_finite() && r.latency_ms > 0.0);
                max_seen = max_seen.max(r.latency_ms);
                total += 1;
            }
        }
        assert_eq!(total, 2000 * 20);
        assert!(
            max_seen > 500.0,
            "no burst in 200 s of traffic: max {max_seen}"
        );
    }
}
