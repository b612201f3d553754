//! Percentiles of samples, and the median and spread of repeated rounds.

use std::fmt;

/// Nearest-rank percentile of `sorted` (ascending); `q` in 0..=1.
fn rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// p50, p99 and max of one distribution.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub count: usize,
}

impl Percentiles {
    pub fn of(values: &[f64]) -> Percentiles {
        let v = sorted(values);
        Percentiles {
            p50: rank(&v, 0.50),
            p99: rank(&v, 0.99),
            max: v.last().copied().unwrap_or(f64::NAN),
            count: v.len(),
        }
    }
}

/// One figure measured in several rounds: the median, and the min–max spread.
#[derive(Debug, Clone, Default)]
pub struct Rounds(pub Vec<f64>);

impl Rounds {
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    /// The median (the mean of the middle two for an even count).
    pub fn median(&self) -> f64 {
        let v = sorted(&self.0);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::NAN, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NAN, f64::max)
    }
}

/// Formats a figure with a precision that suits its size.
pub fn num(value: f64) -> String {
    if value.is_nan() {
        return "–".into();
    }
    let a = value.abs();
    if a >= 1000.0 {
        format!("{value:.0}")
    } else if a >= 100.0 {
        format!("{value:.1}")
    } else if a >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

impl fmt::Display for Rounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 1 {
            return f.write_str(&num(self.median()));
        }
        write!(
            f,
            "{} ({}–{})",
            num(self.median()),
            num(self.min()),
            num(self.max())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&values);
        assert_eq!((p.p50, p.p99, p.max, p.count), (50.0, 99.0, 100.0, 100));
    }

    #[test]
    fn rounds_report_median_and_spread() {
        let r = Rounds(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!((r.median(), r.min(), r.max()), (2.5, 1.0, 10.0));
        assert_eq!(r.to_string(), "2.50 (1.00–10.00)");
    }
}
