//! Replays tests/vectors/events/shapes.json: every accepted event shape (dashfeed's and the reference
//! notes') parses to the same events, and every ambiguous or invalid one fails with its code. The Python
//! and Node suites replay the same file through their `parse_events`.

use dashfeed::{event, Codec, Format};

#[test]
fn event_shape_vectors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/events/shapes.json"
    );
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let json = Codec::new(Format::Json);
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = json
            .decode(serde_json::to_string(&case["input"]).unwrap().as_bytes())
            .unwrap();
        match event::events_from_value(&input) {
            Ok(events) => {
                let got: Vec<serde_json::Value> = events
                    .iter()
                    .map(|e| {
                        let bytes = json.encode_plain(&e.to_value()).unwrap();
                        serde_json::from_slice(&bytes).unwrap()
                    })
                    .collect();
                assert_eq!(serde_json::Value::from(got), case["events"], "{name}");
            }
            Err(e) => assert_eq!(
                e.code(),
                case["error"].as_str().unwrap_or("?"),
                "{name}: {e}"
            ),
        }
    }
}
