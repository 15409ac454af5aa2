//! What a customer sees of an agent after the service (seed 004 claims 3, 8): the
//! profile an agent edits (slogan, contact number, photo), ratings, and the
//! satisfaction score made of them. Rules only; the store and pages are elsewhere.

use crate::phone::{Phone, PhoneError, Region};

/// The longest slogan, in characters.
pub const SLOGAN_MAX_CHARS: usize = 140;
/// The longest rating comment, in characters.
pub const COMMENT_MAX_CHARS: usize = 1000;
/// The largest photo accepted, in bytes.
pub const PHOTO_MAX_BYTES: usize = 512 * 1024;

/// A profile edit refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The slogan is too long or holds control characters.
    #[error("the slogan must be at most {SLOGAN_MAX_CHARS} characters of plain text on one line")]
    Slogan,
    /// The contact number is not a phone number.
    #[error("the contact number is not valid: {0}")]
    Contact(PhoneError),
}

/// The parts of an agent's profile they edit in text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileText {
    /// A line under their name; empty for none.
    pub slogan: String,
    /// A number customers may call them on (E.164); none when not given.
    pub contact: Option<Phone>,
}

impl ProfileText {
    /// Checks an edit: the slogan trimmed (one line, plain text, at most
    /// [`SLOGAN_MAX_CHARS`]); the contact number parsed in `region` (blank for none).
    ///
    /// # Errors
    /// [`ProfileError`] naming the field.
    pub fn parse(slogan: &str, contact: &str, region: Region) -> Result<Self, ProfileError> {
        let slogan = slogan.trim();
        if slogan.chars().count() > SLOGAN_MAX_CHARS || slogan.chars().any(char::is_control) {
            return Err(ProfileError::Slogan);
        }
        let contact = contact.trim();
        let contact = if contact.is_empty() {
            None
        } else {
            Some(Phone::parse(contact, region).map_err(ProfileError::Contact)?)
        };
        Ok(Self {
            slogan: slogan.to_owned(),
            contact,
        })
    }
}

/// A photo refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// Over [`PHOTO_MAX_BYTES`].
    #[error("the photo is {0} bytes; at most {PHOTO_MAX_BYTES} are accepted")]
    TooLarge(usize),
    /// Not a PNG, JPEG, WebP or GIF image (by its first bytes, whatever it claims).
    #[error("the photo must be a PNG, JPEG, WebP or GIF image")]
    NotAnImage,
}

/// An image format served back with its own content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
    /// GIF.
    Gif,
}

impl ImageKind {
    /// The format of `bytes`, read from its signature.
    #[must_use]
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else {
            None
        }
    }

    /// Its MIME type.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
        }
    }
}

/// Checks an uploaded photo: size first, then its signature. The content type the
/// uploader claimed is not trusted; the one returned is what is served.
///
/// # Errors
/// [`PhotoError`].
pub fn check_photo(bytes: &[u8]) -> Result<ImageKind, PhotoError> {
    if bytes.len() > PHOTO_MAX_BYTES {
        return Err(PhotoError::TooLarge(bytes.len()));
    }
    ImageKind::sniff(bytes).ok_or(PhotoError::NotAnImage)
}

/// A rating refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    /// Stars outside 1–5.
    #[error("a rating is 1 to 5 stars")]
    Stars,
    /// The comment is too long or holds control characters other than line breaks.
    #[error("the comment must be at most {COMMENT_MAX_CHARS} characters of plain text")]
    Comment,
}

/// A customer's rating of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// 1 to 5.
    pub stars: u8,
    /// Trimmed; empty for none.
    pub comment: String,
}

impl Rating {
    /// Checks a rating as submitted. Line breaks are normalised to `\n`.
    ///
    /// # Errors
    /// [`RatingError`].
    pub fn new(stars: i64, comment: &str) -> Result<Self, RatingError> {
        let stars = u8::try_from(stars)
            .ok()
            .filter(|s| (1..=5).contains(s))
            .ok_or(RatingError::Stars)?;
        let comment = comment.replace("\r\n", "\n").replace('\r', "\n");
        let comment = comment.trim();
        if comment.chars().count() > COMMENT_MAX_CHARS
            || comment
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(RatingError::Comment);
        }
        Ok(Self {
            stars,
            comment: comment.to_owned(),
        })
    }
}

/// An agent's satisfaction score: the mean of their ratings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Satisfaction {
    /// Sum of stars.
    pub sum: u64,
    /// Ratings counted.
    pub count: u64,
}

impl Satisfaction {
    /// The mean in stars, `None` before the first rating.
    #[must_use]
    pub fn mean(self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The mean to one decimal, as shown ("4.3"), or `None`.
    #[must_use]
    pub fn shown(self) -> Option<String> {
        self.mean().map(|m| format!("{m:.1}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::phone::region;

    #[test]
    fn a_profile_edit_is_trimmed_and_checked() {
        let gb = region("GB").unwrap();
        let p = ProfileText::parse("  Here to help  ", "020 7946 0018", gb).unwrap();
        assert_eq!(p.slogan, "Here to help");
        assert_eq!(p.contact.unwrap().as_str(), "+442079460018");
        let blank = ProfileText::parse("", "  ", gb).unwrap();
        assert_eq!(blank, ProfileText::default());
        assert_eq!(
            ProfileText::parse(&"x".repeat(141), "", gb),
            Err(ProfileError::Slogan)
        );
        assert!(
            ProfileText::parse(&"好".repeat(140), "", gb).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            ProfileText::parse("two\nlines", "", gb),
            Err(ProfileError::Slogan)
        );
        assert!(matches!(
            ProfileText::parse("", "12", gb),
            Err(ProfileError::Contact(_))
        ));
    }

    #[test]
    fn photos_are_known_by_their_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(check_photo(png), Ok(ImageKind::Png));
        assert_eq!(check_photo(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(ImageKind::Jpeg));
        assert_eq!(check_photo(b"RIFF\0\0\0\0WEBPVP8 "), Ok(ImageKind::Webp));
        assert_eq!(check_photo(b"GIF89a.."), Ok(ImageKind::Gif));
        assert_eq!(
            check_photo(b"<svg onload=alert(1)>"),
            Err(PhotoError::NotAnImage)
        );
        assert_eq!(check_photo(b""), Err(PhotoError::NotAnImage));
        let mut big = png.to_vec();
        big.resize(PHOTO_MAX_BYTES + 1, 0);
        assert_eq!(
            check_photo(&big),
            Err(PhotoError::TooLarge(PHOTO_MAX_BYTES + 1))
        );
        big.truncate(PHOTO_MAX_BYTES);
        assert_eq!(check_photo(&big), Ok(ImageKind::Png));
        assert_eq!(ImageKind::Webp.content_type(), "image/webp");
    }

    #[test]
    fn ratings_are_one_to_five_stars_with_a_plain_comment() {
        assert_eq!(
            Rating::new(5, "  Quick and kind\r\nthanks "),
            Ok(Rating {
                stars: 5,
                comment: "Quick and kind\nthanks".into()
            })
        );
        assert_eq!(Rating::new(1, "").unwrap().comment, "");
        for bad in [0, 6, -1, 256 + 3] {
            assert_eq!(Rating::new(bad, ""), Err(RatingError::Stars), "{bad}");
        }
        assert_eq!(
            Rating::new(3, &"y".repeat(COMMENT_MAX_CHARS + 1)),
            Err(RatingError::Comment)
        );
        assert_eq!(Rating::new(3, "bell\u{7}"), Err(RatingError::Comment));
    }

    #[test]
    fn satisfaction_is_the_mean_of_the_ratings() {
        assert_eq!(Satisfaction::default().mean(), None);
        assert_eq!(Satisfaction::default().shown(), None);
        let s = Satisfaction { sum: 13, count: 3 };
        assert_eq!(s.shown().as_deref(), Some("4.3"));
    }
}
