//! Record encoding: one format byte, then JSON. JSON keeps records readable in a dump and lets
//! fields be added with `#[serde(default)]`; the byte lets a later format be told apart.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

const RECORD_FORMAT: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_FORMAT];
    serde_json::to_writer(&mut out, value).expect("records always serialise");
    out
}

pub fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&RECORD_FORMAT, json)) => {
            serde_json::from_slice(json).map_err(|e| StoreError::Corrupt {
                tree,
                detail: e.to_string(),
            })
        }
        Some((other, _)) => Err(StoreError::Corrupt {
            tree,
            detail: format!("unknown record format {other}"),
        }),
        None => Err(StoreError::Corrupt {
            tree,
            detail: "empty record".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_formats() {
        let bytes = encode(&vec![1, 2, 3]);
        assert_eq!(decode::<Vec<i32>>("t", &bytes).unwrap(), vec![1, 2, 3]);
        let mut other = bytes.clone();
        other[0] = 9;
        assert!(matches!(
            decode::<Vec<i32>>("t", &other),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(decode::<Vec<i32>>("t", &[]).is_err());
    }
}
