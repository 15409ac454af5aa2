//! The matching degree: a logistic model over a few features of a match, fitted on
//! held-out phrasings of the library itself (see the crate docs for the method).

use serde::Serialize;

/// What the degree of one match is computed from. Every feature is free of the
/// library's size and of the question's length in the raw-score sense: BM25 scores
/// grow with rare words and long questions, so they are divided by what the question
/// would score against itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Features {
    /// The entry's BM25 score divided by the question's *self-score* (the score of a
    /// phrasing identical to the question under the same statistics): about 1 when
    /// the question is one of the entry's phrasings, 0 when it shares no word.
    pub score: f32,
    /// `score` minus the best normalised score of any other entry: positive for the
    /// top match, negative for the others.
    pub margin: f32,
    /// `ln(1 + terms)`: one-word questions are matched by luck more often.
    pub length: f32,
    /// The share of the question's IDF mass that the library knows at all (terms
    /// that occur in at least one phrasing). Low for questions about other topics.
    pub known: f32,
    /// With semantic matching: the entry's semantic similarity to the question (the
    /// mean cosine of its closest phrasings, see [`crate::semantic::TOP_PHRASINGS`]).
    /// 0 without: the BM25-only model is the same as before semantic matching.
    pub semantic: f32,
    /// With semantic matching: `semantic` minus the best semantic similarity of any
    /// other entry (positive when no other entry is closer in meaning). 0 without.
    pub semantic_margin: f32,
}

/// Number of model weights: a bias and one per feature.
pub const WEIGHTS: usize = 7;

impl Features {
    fn vector(&self) -> [f64; WEIGHTS] {
        [
            1.0,
            f64::from(self.score),
            f64::from(self.margin),
            f64::from(self.length),
            f64::from(self.known),
            f64::from(self.semantic),
            f64::from(self.semantic_margin),
        ]
    }
}

/// A logistic model: `degree = 1 / (1 + exp(-(w · [1, features])))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Model {
    /// Bias, then the weights of `score`, `margin`, `length`, `known`, `semantic`,
    /// `semantic_margin`.
    pub weights: [f64; WEIGHTS],
}

/// The model used before any fitting, and what a fit is pulled towards when the
/// library is too small to say much: fitted on banking77 and hwu64 libraries
/// (`frontdesk answers eval` prints the fitted weights), rounded. BM25 alone: the
/// semantic features are 0, so their weights stay at 0 and change nothing.
pub const PRIOR: Model = Model {
    weights: [-6.9, 6.4, 4.1, 1.4, -1.9, 0.0, 0.0],
};

/// [`PRIOR`] with semantic matching on: fitted on banking77, banking77_oos and
/// hwu64 libraries with the embedding model, rounded. The held-out samples say little
/// about the two semantic weights (a fit moves them by less than one), so their value
/// is a choice: 10 (a cosine 0.1 higher or 0.1 ahead of the next entry is one unit of
/// logit), between 5 and 15, which shift banking77_oos's hand-off by about a point
/// either way (`BENCHMARKS.md`).
pub const SEMANTIC_PRIOR: Model = Model {
    weights: [-11.0, 2.3, 2.6, 1.5, -3.5, 10.0, 9.5],
};

/// How many samples' worth of weight the prior has (an L2 penalty towards it).
pub const PRIOR_STRENGTH: f64 = 20.0;

impl Model {
    /// The degree of a match with these features, in [0, 1].
    #[must_use]
    pub fn degree(&self, features: &Features) -> f32 {
        let z = dot(&self.weights, &features.vector());
        let p = sigmoid(z);
        // Narrowing to f32 cannot leave [0, 1]; NaN (from NaN features) becomes 0.
        if p.is_nan() {
            0.0
        } else {
            p.clamp(0.0, 1.0) as f32
        }
    }
}

fn dot(a: &[f64; WEIGHTS], b: &[f64; WEIGHTS]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fits a logistic model to labelled samples by Newton's method, with an L2 penalty of
/// `strength` pulling the weights towards `prior` (maximum a posteriori under a
/// Gaussian prior). With no samples it returns the prior; with thousands the data
/// decides. Deterministic: a fixed number of steps from the prior, no randomness.
#[must_use]
pub fn fit(samples: &[(Features, bool)], prior: &Model, strength: f64) -> Model {
    let rows: Vec<([f64; WEIGHTS], f64)> = samples
        .iter()
        .filter(|(f, _)| f.vector().iter().all(|x| x.is_finite()))
        .map(|(f, y)| (f.vector(), if *y { 1.0 } else { 0.0 }))
        .collect();
    // The penalised negative log-likelihood: convex, so damped Newton converges.
    let objective = |w: &[f64; WEIGHTS]| -> f64 {
        let penalty: f64 = (0..WEIGHTS)
            .map(|i| (w[i] - prior.weights[i]).powi(2))
            .sum::<f64>()
            * strength
            / 2.0;
        let nll: f64 = rows
            .iter()
            .map(|(x, y)| {
                let z = dot(w, x);
                // log(1 + e^z) - y z, stable for large |z|.
                let softplus = if z > 0.0 {
                    z + (-z).exp().ln_1p()
                } else {
                    z.exp().ln_1p()
                };
                softplus - y * z
            })
            .sum();
        penalty + nll
    };
    let mut w = prior.weights;
    let mut current = objective(&w);
    for _ in 0..100 {
        let mut grad = [0.0; WEIGHTS];
        let mut hess = [[0.0; WEIGHTS]; WEIGHTS];
        for (i, g) in grad.iter_mut().enumerate() {
            *g = strength * (w[i] - prior.weights[i]);
            hess[i][i] = strength;
        }
        for (x, y) in &rows {
            let p = sigmoid(dot(&w, x));
            let s = (p * (1.0 - p)).max(1e-12);
            for i in 0..WEIGHTS {
                grad[i] += (p - y) * x[i];
                for j in 0..WEIGHTS {
                    hess[i][j] += s * x[i] * x[j];
                }
            }
        }
        if !newton_step(&mut w, &mut current, hess, grad, &objective) {
            break;
        }
    }
    if w.iter().all(|x| x.is_finite()) {
        Model { weights: w }
    } else {
        *prior
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` if singular.
/// One damped Newton step of a minimisation: solves `hess · step = grad`, then
/// halves the step until `objective` goes down (a full step can overshoot far from
/// the optimum), and moves `w` there. False when it cannot move any more (a singular
/// system, or no decrease worth the name): the caller stops iterating.
pub(crate) fn newton_step<const N: usize>(
    w: &mut [f64; N],
    current: &mut f64,
    hess: [[f64; N]; N],
    grad: [f64; N],
    objective: &dyn Fn(&[f64; N]) -> f64,
) -> bool {
    let Some(step) = solve(hess, grad) else {
        return false;
    };
    let mut t = 1.0;
    while t > 1e-6 {
        let mut next = *w;
        for i in 0..N {
            next[i] -= t * step[i];
        }
        let value = objective(&next);
        if value < *current {
            *w = next;
            let moved = *current - value > 1e-10 * current.abs().max(1.0);
            *current = value;
            return moved;
        }
        t /= 2.0;
    }
    false
}

pub(crate) fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (x, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let rest: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

/// A small seeded generator (SplitMix64) so that sampling, and so the degree, is the
/// same for the same library on every machine and every version of every dependency.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant at these sizes.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Fisher–Yates.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(score: f32) -> Features {
        Features {
            score,
            margin: score / 2.0,
            length: 1.0,
            known: 1.0,
            semantic: 0.0,
            semantic_margin: 0.0,
        }
    }

    #[test]
    fn fit_without_samples_is_the_prior() {
        assert_eq!(fit(&[], &PRIOR, PRIOR_STRENGTH), PRIOR);
    }

    #[test]
    fn fit_separates_and_stays_finite() {
        let mut samples = Vec::new();
        for i in 0..200 {
            let x = i as f32 / 200.0;
            samples.push((f(x), x > 0.6 || i % 7 == 0));
        }
        let m = fit(&samples, &PRIOR, 1.0);
        assert!(m.weights.iter().all(|w| w.is_finite()));
        assert!(m.degree(&f(0.9)) > 0.8);
        assert!(m.degree(&f(0.1)) < 0.3);
        // The same samples give the same model.
        assert_eq!(m, fit(&samples, &PRIOR, 1.0));
    }

    #[test]
    fn degree_is_in_range_even_for_odd_features() {
        for x in [f32::NAN, f32::INFINITY, -f32::INFINITY, 1e30, -1e30, 0.0] {
            let d = PRIOR.degree(&f(x));
            assert!((0.0..=1.0).contains(&d), "{x} -> {d}");
        }
    }

    #[test]
    fn splitmix_is_stable() {
        let mut r = SplitMix64::new(1);
        let a: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut r = SplitMix64::new(1);
        let b: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(a, b);
    }
}
