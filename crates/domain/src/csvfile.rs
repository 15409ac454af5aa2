//! How frontdesk reads the CSV files people edit in spreadsheets (customer facts,
//! the answer library): one reader set-up and one way of naming its errors.

/// A reader of `data` with a header row, fields trimmed, and rows of any length
/// (callers report a wrong number of fields themselves, with a clearer message
/// than the csv crate's, and go on reading to find every problem).
pub fn reader(data: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(data)
}

/// The csv crate's error for a row, in words for the person who saved the file.
#[must_use]
pub fn message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the row is not valid UTF-8 text (save the file as CSV UTF-8)".into()
        }
        _ => e.to_string(),
    }
}
