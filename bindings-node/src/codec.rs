//! Node face of `dashfeed::codec`: `encode` / `decode` and the `Codec` class, with their options.
//!
//! `encode(value, options?)` hands the JS value to the core's encoder (`Codec::encode_from`), which
//! has it walked straight into its MessagePack writer (JSON goes through a core `Value`), then gzips
//! above `compressOver`; `decode(data, options?)` reads
//! the bytes in place, lets the core check the limits and decompress, and builds JS values straight
//! from the decoder. The accepted and produced JS types are listed in `walk` and `build`. Both run
//! on the JS thread: the work is proportional to the payload, which the decode limits cap.
//!
//! Raw Node-API to read the input bytes in place, to hand the builder's value back, and in
//! `codec_encode` / `codec_decode`, which replace napi-rs's glue of `Codec.prototype.encode` /
//! `decode` when the module loads (`crate::fast`: no per-call borrow table; bench rows: `node
//! bench/codec.js`, every dashfeed row); the functions and the `Codec` class are declared with
//! `#[napi]`.

use crate::build::JsBuilder;
use crate::error::{guard, Code, Result};
use crate::napi::realm;
use crate::napi::{convert, glue, raw};
use crate::walk::{Source, MAX_SAFE};
use dashfeed::codec::{Codec as CoreCodec, Format, Limits};
use dashfeed::Error;
use napi::bindgen_prelude::{Either, Env, FromNapiValue, Null, Unknown};
use napi::{sys, JsValue, ValueType};
use napi_derive::napi;
use std::cell::RefCell;

/// Options of `encode`.
#[napi(object)]
pub struct EncodeOptions {
    /// `"msgpack"` (default) or `"json"`.
    #[napi(ts_type = "'msgpack' | 'json'")]
    pub format: Option<String>,
    /// Gzip the encoded bytes when they are longer than this (default 1024); `null` never
    /// compresses.
    pub compress_over: Option<Either<f64, Null>>,
    /// Gzip level 0–9 (default 1, the fastest).
    pub level: Option<f64>,
    /// Deepest nesting of arrays, objects and maps (default 128).
    pub max_depth: Option<f64>,
}

/// Options of `decode`.
#[napi(object)]
pub struct DecodeOptions {
    /// `"msgpack"` (default) or `"json"`. Gzip is recognised by its magic bytes whatever the
    /// format.
    #[napi(ts_type = "'msgpack' | 'json'")]
    pub format: Option<String>,
    /// Largest accepted input in bytes (default 16 MiB).
    pub max_input: Option<f64>,
    /// Largest payload after gzip decompression in bytes (default 16 MiB).
    pub max_decompressed: Option<f64>,
    /// Deepest nesting of arrays and maps (default 128).
    pub max_depth: Option<f64>,
}

/// Options of the `Codec` constructor: every encode and decode option.
#[napi(object)]
pub struct CodecOptions {
    /// `"msgpack"` (default) or `"json"`.
    #[napi(ts_type = "'msgpack' | 'json'")]
    pub format: Option<String>,
    /// Gzip the encoded bytes when they are longer than this (default 1024); `null` never
    /// compresses.
    pub compress_over: Option<Either<f64, Null>>,
    /// Gzip level 0–9 (default 1, the fastest).
    pub level: Option<f64>,
    /// Largest accepted input in bytes (default 16 MiB).
    pub max_input: Option<f64>,
    /// Largest payload after gzip decompression in bytes (default 16 MiB).
    pub max_decompressed: Option<f64>,
    /// Deepest nesting of arrays and maps (default 128).
    pub max_depth: Option<f64>,
}

impl From<EncodeOptions> for CodecOptions {
    fn from(o: EncodeOptions) -> Self {
        CodecOptions {
            format: o.format,
            compress_over: o.compress_over,
            level: o.level,
            max_input: None,
            max_decompressed: None,
            max_depth: o.max_depth,
        }
    }
}

impl From<DecodeOptions> for CodecOptions {
    fn from(o: DecodeOptions) -> Self {
        CodecOptions {
            format: o.format,
            compress_over: None,
            level: None,
            max_input: o.max_input,
            max_decompressed: o.max_decompressed,
            max_depth: o.max_depth,
        }
    }
}

/// Reads an optional options object (`undefined` / `null` → defaults) into `T`, then into a core
/// codec.
fn codec_from<T: FromNapiValue + Into<CodecOptions>>(
    options: Option<Unknown<'_>>,
) -> Result<CoreCodec> {
    let Some(obj) = options else {
        return Ok(CoreCodec::default());
    };
    if obj.get_type()? != ValueType::Object {
        return Err(Error::invalid("options must be an object").into());
    }
    let opts: T = convert::from_js(obj.value().env, obj.raw())?;
    make_codec(opts.into())
}

/// Builds and validates a core codec from options; unset options keep the core defaults.
fn make_codec(o: CodecOptions) -> Result<CoreCodec> {
    let d = CoreCodec::default();
    let opt = |name: &str, v: Option<f64>, default: usize| v.map_or(Ok(default), |n| size(name, n));
    let codec = CoreCodec {
        format: o.format.map_or(Ok(d.format), |f| f.parse::<Format>())?,
        compress_over: match o.compress_over {
            None => d.compress_over,
            Some(Either::A(n)) => Some(size("compressOver", n)?),
            Some(Either::B(Null)) => None,
        },
        level: u32::try_from(opt("level", o.level, d.level as usize)?).unwrap_or(u32::MAX),
        limits: Limits {
            max_input: opt("maxInput", o.max_input, d.limits.max_input)?,
            max_decompressed: opt(
                "maxDecompressed",
                o.max_decompressed,
                d.limits.max_decompressed,
            )?,
            max_depth: opt("maxDepth", o.max_depth, d.limits.max_depth)?,
        },
    };
    codec.validate()?;
    Ok(codec)
}

/// A size option: a non-negative integral number.
fn size(name: &str, n: f64) -> Result<usize> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE {
        return Ok(n as usize);
    }
    Err(Error::invalid(format!("{name} must be a non-negative integer, not {n}")).into())
}

fn encode_with<'env>(
    env: &'env Env,
    codec: &CoreCodec,
    value: Unknown<'env>,
) -> Result<Unknown<'env>> {
    let out = encode_raw(env.raw(), codec, value.raw())?;
    Ok(convert::unknown(env.raw(), out))
}

fn encode_raw(
    env: sys::napi_env,
    codec: &CoreCodec,
    value: sys::napi_value,
) -> Result<sys::napi_value> {
    let bytes = codec.encode_from(&mut Source::new(env, value, codec.limits.max_depth))?;
    realm::buffer(env, &bytes)
}

fn decode_with<'env>(
    env: &'env Env,
    codec: &CoreCodec,
    data: Unknown<'env>,
) -> Result<Unknown<'env>> {
    let out = decode_raw(env.raw(), codec, data.raw())?;
    Ok(convert::unknown(env.raw(), out))
}

fn decode_raw(
    env: sys::napi_env,
    codec: &CoreCodec,
    data: sys::napi_value,
) -> Result<sys::napi_value> {
    // Limits and gunzip on the bytes in place. The builder then runs JavaScript (`Map#set`,
    // `Buffer.from`), so it reads a copy, never memory that JavaScript could detach meanwhile.
    let plain = raw::with_bytes(env, data, |b| {
        codec
            .unwrap_gzip(b)
            .map(|unzipped| unzipped.unwrap_or_else(|| b.to_vec()))
    })?;
    let Some(plain) = plain else {
        let t = raw::type_name(raw::type_of(env, data)?);
        let msg = format!(
            "decode needs a Buffer, Uint8Array (or another TypedArray), DataView or ArrayBuffer, \
             not {t}"
        );
        return Err(Error::UnsupportedType(msg).into());
    };
    let plain = plain?;
    // V8 parses JSON text faster than values can be built through Node-API, one call per node:
    // the core writes the value as JSON when parsing it gives exactly what the builder would make
    // (`Codec::decode_plain_json`), and the builder takes the rest (bytes, BigInts, Map keys).
    if let Some(text) = codec.decode_plain_json(&plain)? {
        return realm::json_parse(env, &text);
    }
    let mut builder = JsBuilder::new(env);
    let node = codec.decode_plain_with(&plain, &mut builder)?;
    builder.js(node)
}

thread_local! {
    /// The last `Codec` that `encode` / `decode` ran on, in this thread's environment.
    static RECEIVER: RefCell<glue::ReceiverCache> = const { RefCell::new(glue::ReceiverCache::new()) };
}

/// Runs `op` on the `Codec` receiver and the one argument of a plain Node-API method call.
///
/// # Safety
/// `info` must be the callback info of the running call.
unsafe fn on_codec(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    op: fn(sys::napi_env, &CoreCodec, sys::napi_value) -> Result<sys::napi_value>,
) -> sys::napi_value {
    glue::run(env, || {
        // SAFETY: this call's info (the caller's contract); the receiver is used only during it.
        let (this, [arg], _) = unsafe { glue::args::<1>(env, info)? };
        // SAFETY: as above; the cache serves only `Codec`.
        let codec = RECEIVER.with(|c| unsafe { glue::receiver_cached::<Codec>(env, this, c) })?;
        op(env, &codec.inner, arg)
    })
}

/// `Codec.prototype.encode` as it runs: a plain Node-API callback defined on the prototype when
/// the module loads (see `crate::fast`; bench row: `node bench/codec.js`, the dashfeed `encode`
/// rows).
///
/// # Safety
/// A Node-API callback: Node calls it with the environment and the info of the running call.
pub unsafe extern "C" fn codec_encode(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: forwarded: Node's call with its info.
    unsafe { on_codec(env, info, encode_raw) }
}

/// `Codec.prototype.decode` as it runs (see [`codec_encode`]; bench row: `node bench/codec.js`,
/// the dashfeed `decode` rows).
///
/// # Safety
/// A Node-API callback: Node calls it with the environment and the info of the running call.
pub unsafe extern "C" fn codec_decode(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: forwarded: Node's call with its info.
    unsafe { on_codec(env, info, decode_raw) }
}

/// `encode(value, options?)` → `Buffer`: MessagePack (default) or JSON, gzipped above
/// `compressOver` bytes.
#[napi(
    catch_unwind,
    ts_args_type = "value: unknown, options?: EncodeOptions",
    ts_return_type = "Buffer"
)]
pub fn encode<'env>(
    env: &'env Env,
    value: Unknown<'env>,
    options: Option<Unknown<'env>>,
) -> napi::Result<Unknown<'env>, Code> {
    guard(|| encode_with(env, &codec_from::<EncodeOptions>(options)?, value))
}

/// `decode(data, options?)` → value. Gzip is recognised by its magic bytes; limits are checked
/// first.
#[napi(
    catch_unwind,
    ts_args_type = "data: Uint8Array | ArrayBufferView | ArrayBuffer, options?: DecodeOptions",
    ts_return_type = "unknown"
)]
pub fn decode<'env>(
    env: &'env Env,
    data: Unknown<'env>,
    options: Option<Unknown<'env>>,
) -> napi::Result<Unknown<'env>, Code> {
    guard(|| decode_with(env, &codec_from::<DecodeOptions>(options)?, data))
}

/// An encoder / decoder with fixed options, e.g. `new Codec({ format: 'json', compressOver: null })`.
#[napi]
pub struct Codec {
    inner: CoreCodec,
}

#[napi]
impl Codec {
    /// Validates the options once; `encode` / `decode` then reuse them.
    #[napi(constructor, catch_unwind, ts_args_type = "options?: CodecOptions")]
    pub fn new(options: Option<Unknown<'_>>) -> napi::Result<Self, Code> {
        guard(|| {
            let inner = codec_from::<CodecOptions>(options)?;
            Ok(Codec { inner })
        })
    }

    /// Encodes a value; gzipped when the encoded bytes are longer than `compressOver`. The method
    /// that runs is a plain Node-API callback with this body, defined over this one when the module
    /// loads (without napi-rs's per-call borrow table; bench rows: `node bench/codec.js`).
    #[napi(
        catch_unwind,
        ts_args_type = "value: unknown",
        ts_return_type = "Buffer"
    )]
    pub fn encode<'env>(
        &self,
        env: &'env Env,
        value: Unknown<'env>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| encode_with(env, &self.inner, value))
    }

    /// Decodes bytes (gzipped or not) back to a value. The method that runs is a plain Node-API
    /// callback with this body, defined over this one when the module loads (as `encode`).
    #[napi(
        catch_unwind,
        ts_args_type = "data: Uint8Array | ArrayBufferView | ArrayBuffer",
        ts_return_type = "unknown"
    )]
    pub fn decode<'env>(
        &self,
        env: &'env Env,
        data: Unknown<'env>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| decode_with(env, &self.inner, data))
    }

    /// The wire format name: `"msgpack"` or `"json"`.
    #[napi(getter, catch_unwind, ts_return_type = "'msgpack' | 'json'")]
    pub fn format(&self) -> &'static str {
        self.inner.format.name()
    }

    /// Gzip threshold in bytes, or `null` when compression is off.
    #[napi(getter, catch_unwind)]
    pub fn compress_over(&self) -> Option<f64> {
        self.inner.compress_over.map(|n| n as f64)
    }

    /// Gzip level.
    #[napi(getter, catch_unwind)]
    pub fn level(&self) -> u32 {
        self.inner.level
    }

    /// `Codec(format="msgpack", compressOver=1024, level=1)`.
    #[napi(js_name = "toString", catch_unwind)]
    pub fn to_js_string(&self) -> String {
        let over = self
            .inner
            .compress_over
            .map_or("null".into(), |n| n.to_string());
        let (format, level) = (self.inner.format.name(), self.inner.level);
        format!("Codec(format={format:?}, compressOver={over}, level={level})")
    }
}
