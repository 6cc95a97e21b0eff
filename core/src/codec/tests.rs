//! Unit tests of the codec: round trips, thresholds and every decode limit.

use super::*;

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

#[test]
fn small_payload_stays_plain_and_large_one_is_gzipped() {
    let codec = Codec::default();
    let small = map(&[("cpu", 0.42.into())]);
    let bytes = codec.encode(&small).unwrap();
    assert!(!is_gzip(&bytes));
    assert_eq!(bytes, codec.encode_plain(&small).unwrap());

    let big = Value::Array((0..400).map(|i| Value::Float(i as f64 + 0.5)).collect());
    let plain = codec.encode_plain(&big).unwrap();
    assert!(plain.len() > DEFAULT_COMPRESS_OVER);
    let bytes = codec.encode(&big).unwrap();
    assert!(is_gzip(&bytes));
    assert_eq!(codec.decode(&bytes).unwrap(), big);
}

#[test]
fn threshold_is_strictly_greater_than() {
    let codec = Codec {
        compress_over: Some(4),
        ..Codec::default()
    };
    let four = Value::Str("abc".into()); // a3 61 62 63: 4 bytes, not compressed
    assert!(!is_gzip(&codec.encode(&four).unwrap()));
    let five = Value::Str("abcd".into());
    assert!(is_gzip(&codec.encode(&five).unwrap()));
    let never = Codec {
        compress_over: None,
        ..Codec::default()
    };
    assert!(!is_gzip(
        &never.encode(&Value::Str("x".repeat(5000))).unwrap()
    ));
}

#[test]
fn json_round_trip_keeps_order_and_refuses_bytes() {
    let codec = Codec::new(Format::Json);
    let v = map(&[
        ("z", 1i64.into()),
        ("a", Value::Array(vec![Value::Nil, true.into(), 2.5.into()])),
    ]);
    let bytes = codec.encode(&v).unwrap();
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        r#"{"z":1,"a":[null,true,2.5]}"#
    );
    assert_eq!(codec.decode(&bytes).unwrap(), v);
    let err = codec.encode(&Value::Bin(vec![1, 2])).unwrap_err();
    assert_eq!(err.code(), "encode_error");
    assert_eq!(codec.encode(&Value::Float(f64::NAN)).unwrap(), b"null");
}

#[test]
fn input_limit_is_checked_before_anything_else() {
    let codec = Codec {
        limits: Limits {
            max_input: 8,
            ..Limits::default()
        },
        ..Codec::default()
    };
    let err = codec.decode(&[0x90; 9]).unwrap_err();
    assert_eq!(
        err,
        Error::TooLarge {
            what: "input",
            limit: 8
        }
    );
    assert_eq!(codec.decode(&[0x90]).unwrap(), Value::Array(vec![]));
}

#[test]
fn gzip_bomb_fails_with_too_large() {
    let zeros = vec![0u8; 64 << 20];
    let bomb = compress(&zeros, 9).unwrap();
    assert!(bomb.len() < 100_000, "bomb is {} bytes", bomb.len());
    drop(zeros);
    let err = Codec::default().decode(&bomb).unwrap_err();
    assert_eq!(err.code(), "too_large");
    // The same bytes under a cap that fits decode fine (then fail as msgpack: 0x00 ... is trailing data).
    let loose = Codec {
        limits: Limits {
            max_decompressed: 65 << 20,
            ..Limits::default()
        },
        ..Codec::default()
    };
    assert_eq!(loose.decode(&bomb).unwrap_err().code(), "decode_error");
}

#[test]
fn decompress_exactly_at_cap_is_allowed() {
    let data = vec![7u8; 1000];
    let gz = compress(&data, 6).unwrap();
    assert_eq!(decompress(&gz, 1000).unwrap(), data);
    assert_eq!(decompress(&gz, 999).unwrap_err().code(), "too_large");
}

#[test]
fn depth_limit_applies_to_both_formats_and_is_configurable() {
    let deep = |n: usize| {
        let mut v = vec![0x91u8; n];
        v.push(0xc0);
        v
    };
    let codec = Codec::default();
    assert!(codec.decode(&deep(128)).is_ok());
    assert_eq!(
        codec.decode(&deep(129)).unwrap_err(),
        Error::TooDeep { limit: 128 }
    );
    let shallow = Codec {
        limits: Limits {
            max_depth: 3,
            ..Limits::default()
        },
        ..Codec::default()
    };
    assert!(shallow.decode(&deep(3)).is_ok());
    assert_eq!(shallow.decode(&deep(4)).unwrap_err().code(), "too_deep");

    let json = Codec::new(Format::Json);
    let text = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(json.decode(text(128).as_bytes()).is_ok());
    assert_eq!(
        json.decode(text(129).as_bytes()).unwrap_err().code(),
        "too_deep"
    );
    let objs = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    assert_eq!(json.decode(objs.as_bytes()).unwrap_err().code(), "too_deep");
}

#[test]
fn ten_thousand_nested_arrays_fail_on_a_2_mib_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut v = vec![0x91u8; 10_000];
            v.push(0xc0);
            let mp = Codec::default().decode(&v).unwrap_err();
            let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
            let js = Codec::new(Format::Json)
                .decode(text.as_bytes())
                .unwrap_err();
            (mp.code(), js.code())
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), ("too_deep", "too_deep"));
}

#[test]
fn declared_lengths_truncation_and_trailing_bytes_are_decode_errors() {
    let codec = Codec::default();
    for bad in [
        &[0xdd, 0xff, 0xff, 0xff, 0xff][..],
        &[0xdf, 0xff, 0xff, 0xff, 0xff],
        &[0xdb, 0xff, 0xff, 0xff, 0xff, 0x41],
        &[0xc6, 0xff, 0xff, 0xff, 0xff],
        &[0x92, 0x01],
        &[0x01, 0x02],
        &[],
        &[0xc1],
    ] {
        assert_eq!(
            codec.decode(bad).unwrap_err().code(),
            "decode_error",
            "{bad:02x?}"
        );
    }
}

#[test]
fn max_depth_is_capped_so_no_setting_can_overflow_the_stack() {
    let deep = Codec {
        limits: Limits {
            max_depth: MAX_DEPTH_LIMIT + 1,
            ..Limits::default()
        },
        ..Codec::default()
    };
    assert_eq!(deep.validate().unwrap_err().code(), "invalid_input");
    let ok = Codec {
        limits: Limits {
            max_depth: MAX_DEPTH_LIMIT,
            ..Limits::default()
        },
        ..Codec::default()
    };
    ok.validate().unwrap();
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut v = vec![0x91u8; MAX_DEPTH_LIMIT];
            v.push(0xc0);
            let json = Codec {
                format: Format::Json,
                ..ok
            };
            let text = format!(
                "{}{}",
                "[".repeat(MAX_DEPTH_LIMIT),
                "]".repeat(MAX_DEPTH_LIMIT)
            );
            ok.decode(&v).is_ok() && json.decode(text.as_bytes()).is_ok()
        })
        .unwrap();
    assert!(handle.join().unwrap());
}

/// Found by the codec_decode fuzz target (seed `bug-512-nested-maps-overflow`): 512 nested msgpack maps
/// overflowed a 2 MiB thread in a debug build (~4 KiB of stack per level). Every container shape at
/// `MAX_DEPTH_LIMIT` now decodes within half of that.
#[test]
fn max_depth_maps_and_arrays_decode_well_inside_a_2_mib_stack() {
    let n = MAX_DEPTH_LIMIT;
    let codec = Codec {
        limits: Limits {
            max_depth: n,
            ..Limits::default()
        },
        ..Codec::default()
    };
    let json = Codec {
        format: Format::Json,
        ..codec
    };
    let mut maps = [0x81, 0xa1, b'k'].repeat(n);
    maps.push(0xc0);
    let mut int_keys = [0x81, 0x01].repeat(n);
    int_keys.push(0xc0);
    let mut arrays = [0xdc, 0x00, 0x01].repeat(n);
    arrays.push(0xc0);
    let objects = format!("{}null{}", r#"{"k":"#.repeat(n), "}".repeat(n));
    let lists = format!("{}{}", "[".repeat(n), "]".repeat(n));
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            for bytes in [&maps, &int_keys, &arrays] {
                let v = codec.decode(bytes).map_err(|e| e.to_string())?;
                std::mem::forget(v); // dropping is not what is measured here
            }
            for text in [&objects, &lists] {
                let v = json.decode(text.as_bytes()).map_err(|e| e.to_string())?;
                std::mem::forget(v);
            }
            Ok::<(), String>(())
        })
        .unwrap();
    handle.join().unwrap().unwrap();
}

#[test]
fn format_names_parse() {
    assert_eq!("msgpack".parse::<Format>().unwrap(), Format::MsgPack);
    assert_eq!("JSON".parse::<Format>().unwrap(), Format::Json);
    assert_eq!("xml".parse::<Format>().unwrap_err().code(), "invalid_input");
    assert_eq!(
        Codec {
            level: 10,
            ..Codec::default()
        }
        .validate()
        .unwrap_err()
        .code(),
        "invalid_input"
    );
}
