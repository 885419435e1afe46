//! Figures a client measures (ack and delivery latencies), summarised the way the server
//! summarises its own: the nearest-rank percentile.

/// The `q`-quantile (0 ≤ q ≤ 1) of `samples` by nearest rank; 0 for no samples.
pub fn percentile(mut samples: Vec<f64>, q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(samples.clone(), 0.5), 50.0);
        assert_eq!(percentile(samples.clone(), 0.99), 99.0);
        assert_eq!(percentile(samples, 1.0), 100.0);
        assert_eq!(percentile(vec![3.0, 1.0, 2.0], 0.0), 1.0);
        assert_eq!(percentile(Vec::new(), 0.5), 0.0);
    }
}
