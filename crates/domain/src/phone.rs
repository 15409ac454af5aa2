//! Customers are identified by phone number, stored in E.164 (`+14155550123`).
//!
//! Validation uses `rlibphonenumber` (a port of Google's libphonenumber, differentially
//! fuzzed against the C++ original) rather than a regular expression: it knows each country's number lengths and prefixes,
//! so "+1 555 0100" and "12345" are refused while local formats with spaces, dashes
//! and brackets are accepted. A number without a leading `+` is read in the
//! business's default region (configuration).
//!
//! The older `phonenumber` crate was tried first and dropped: it truncates national
//! numbers that start with the trunk-prefix digit (`+86 139…` became `+86 39…`;
//! whisperfish/rust-phonenumber#76), which would split one customer into two.

use std::fmt;

use std::str::FromStr;

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat};

/// A region (country) for reading numbers without a `+country` prefix.
pub use rlibphonenumber::Region;
use serde::{Deserialize, Serialize};

/// A valid phone number in E.164 form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Not a phone number at all.
    #[error("'{0}' is not a phone number")]
    Unparseable(String),
    /// Shaped like a number, but no such number can exist.
    #[error("'{0}' is not a valid phone number")]
    Invalid(String),
    /// The default region in the configuration is not a known country code.
    #[error("'{0}' is not a known ISO 3166 region code")]
    UnknownRegion(String),
}

/// Checks a default-region setting such as `US` or `CN`.
///
/// # Errors
/// [`PhoneError::UnknownRegion`] when the code is not a known region.
pub fn region(code: &str) -> Result<Region, PhoneError> {
    let unknown = || PhoneError::UnknownRegion(code.to_owned());
    let region = Region::from_str(&code.to_ascii_uppercase()).map_err(|_| unknown())?;
    // Any two letters parse as a Region; only those with metadata are real.
    PHONE_NUMBER_UTIL
        .get_country_code_for_region(region)
        .map(|_| region)
        .ok_or_else(unknown)
}

impl Phone {
    /// Parses what a customer typed, in `default_region` when it has no `+`.
    ///
    /// # Errors
    /// [`PhoneError`] when the input is not a valid number.
    pub fn parse(input: &str, default_region: Region) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > 40 {
            return Err(PhoneError::Unparseable(truncate(trimmed)));
        }
        let n = PHONE_NUMBER_UTIL
            .parse(trimmed, Some(default_region))
            .map_err(|_| PhoneError::Unparseable(truncate(trimmed)))?;
        if !n.is_valid() {
            return Err(PhoneError::Invalid(truncate(trimmed)));
        }
        Ok(Self(n.format_as(PhoneNumberFormat::E164).to_string()))
    }

    /// Wraps a number already stored in E.164 (from our own database).
    #[must_use]
    pub fn from_e164_unchecked(s: String) -> Self {
        Self(s)
    }

    /// The E.164 text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the last four digits hidden, for logs.
    #[must_use]
    pub fn masked(&self) -> String {
        let keep = self.0.len().saturating_sub(4);
        self.0
            .char_indices()
            .map(|(i, c)| if i > 0 && i < keep { '*' } else { c })
            .collect()
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_local_and_international_forms() {
        let us = region("us").unwrap();
        assert_eq!(
            Phone::parse("(201) 555-0123", us).unwrap().as_str(),
            "+12015550123"
        );
        assert_eq!(
            Phone::parse("+1 201 555 0123", us).unwrap().as_str(),
            "+12015550123"
        );
        assert_eq!(
            Phone::parse("+86 139 1234 5678", us).unwrap().as_str(),
            "+8613912345678"
        );
        assert_eq!(
            Phone::parse("+7 800 555 35 35", us).unwrap().as_str(),
            "+78005553535"
        );
        let cn = region("CN").unwrap();
        assert_eq!(
            Phone::parse("138 0013 8000", cn).unwrap().as_str(),
            "+8613800138000"
        );
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        let us = region("US").unwrap();
        for bad in [
            "",
            "   ",
            "hello",
            "12",
            "+1 000",
            "+999 1234567",
            &"9".repeat(60),
        ] {
            assert!(Phone::parse(bad, us).is_err(), "{bad:?} accepted");
        }
        assert!(region("XX").is_err());
    }

    #[test]
    fn masks_for_logs() {
        let p = Phone::parse("+12015550123", region("US").unwrap()).unwrap();
        assert_eq!(p.masked(), "+*******0123");
    }
}
