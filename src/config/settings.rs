//! Reading one setting: every section goes through these, so an unset value, a number out of range or
//! an unknown word is reported the same way for every setting.

use std::ops::RangeInclusive;

use super::{invalid, ConfigError};

/// The settings as the environment gives them; a value that is empty or only spaces counts as unset.
pub(super) struct Settings<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Settings<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The value as given (not trimmed), or `None` when unset.
    pub(super) fn optional(&self, name: &'static str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value as given (not trimmed); an error when unset.
    pub(super) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name)
            .ok_or_else(|| invalid(name, "is not set"))
    }

    /// A whole number within `range`, `default` when unset.
    pub(super) fn number(
        &self,
        name: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    let (min, max) = range.into_inner();
                    invalid(name, format!("must be a whole number from {min} to {max}"))
                }),
        }
    }

    /// `true` or `false`, false when unset.
    pub(super) fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        self.choice(name, &[("false", false), ("true", true)])
            .map_err(|_| invalid(name, "must be true or false"))
    }

    /// One of the words of `options` (exactly, after trimming); the first when unset.
    pub(super) fn choice<T: Copy>(
        &self,
        name: &'static str,
        options: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let Some(value) = self.optional(name) else {
            return Ok(options[0].1);
        };
        match options.iter().find(|(word, _)| *word == value.trim()) {
            Some(&(_, chosen)) => Ok(chosen),
            None => {
                let words: Vec<&str> = options.iter().map(|(word, _)| *word).collect();
                Err(invalid(
                    name,
                    format!("must be one of: {}", words.join(", ")),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T>(value: &str, read: impl Fn(&Settings) -> T) -> T {
        let value = value.to_owned();
        let lookup = move |name: &str| (name == "X").then(|| value.clone());
        read(&Settings::new(&lookup))
    }

    #[test]
    fn empty_and_blank_values_are_unset() {
        for value in ["", "  ", "\t"] {
            assert_eq!(read(value, |s| s.optional("X")), None);
            assert_eq!(
                read(value, |s| s.required("X")).unwrap_err().to_string(),
                "X is not set"
            );
        }
        assert_eq!(read(" a ", |s| s.required("X")).unwrap(), " a ");
    }

    #[test]
    fn numbers_are_whole_and_within_their_range() {
        assert_eq!(read("", |s| s.number("X", 7, 1..=10)).unwrap(), 7);
        assert_eq!(read(" 10 ", |s| s.number("X", 7, 1..=10)).unwrap(), 10);
        assert_eq!(read("1", |s| s.number("X", 7, 1..=10)).unwrap(), 1);
        for bad in ["0", "11", "-1", "1.0", "1e1", "x", "18446744073709551616"] {
            assert_eq!(
                read(bad, |s| s.number("X", 7, 1..=10))
                    .unwrap_err()
                    .to_string(),
                "X must be a whole number from 1 to 10",
                "{bad}"
            );
        }
    }

    #[test]
    fn flags_and_choices_take_exact_words() {
        assert!(!read("", |s| s.flag("X")).unwrap());
        assert!(read(" true ", |s| s.flag("X")).unwrap());
        assert!(!read("false", |s| s.flag("X")).unwrap());
        assert_eq!(
            read("True", |s| s.flag("X")).unwrap_err().to_string(),
            "X must be true or false"
        );
        let options = [("a", 1), ("b-c", 2)];
        assert_eq!(read("", |s| s.choice("X", &options)).unwrap(), 1);
        assert_eq!(read(" b-c", |s| s.choice("X", &options)).unwrap(), 2);
        assert_eq!(
            read("A", |s| s.choice("X", &options))
                .unwrap_err()
                .to_string(),
            "X must be one of: a, b-c"
        );
    }
}
