//! The install point of the methods that run in place of napi-rs's own, when the module loads into
//! an environment (right after napi-rs registered the classes, before `index.js` hands them out):
//! - `Aggregator.prototype.add` and `Subscription.prototype.next` become plain Node-API callbacks
//!   (`napi::glue`): the same bodies without napi-rs's per-call borrow table. Bench rows: `node
//!   bench/window.js`, "dashfeed add (per event)" (1,000 keys: 400-690 ns per event with the
//!   callback, 1,050-1,900 ns with napi-rs's method, 2 alternated runs each); `node bench/hub.js`,
//!   the `for await` columns (with napi-rs's `next`, 0-24% fewer deliveries per CPU-s by row, means
//!   of 2 alternated runs on a noisy machine).
//! - `Codec.prototype.encode` / `decode` and `Hub.prototype.publish` likewise (bench rows: `node
//!   bench/codec.js`, every dashfeed row; `node bench/hub.js`, the one-subscriber rows, where the
//!   publish is most of the cost).
//! - `Message.prototype.raw` becomes the `raw` wrapper of `bindings-node/js/hub.js` (`installRaw`),
//!   which calls napi-rs's `raw` once per message object and format and keeps the Buffer on the
//!   object, so the subscribers sharing a message make one native call, not one each (`node
//!   bench/hub.js`, 100 and 1,000 subscribers).
//!
//! Each method's declaration (index.d.ts) says what runs.

use crate::codec::{codec_decode, codec_encode};
use crate::hub::HUB;
use crate::hub::{hub_publish, subscription_next};
use crate::napi::glue::{self, Method};
use crate::napi::{raw, script};
use crate::window::aggregator_add;
use napi::bindgen_prelude::Object;
use napi::JsValue;
use napi_derive::napi;

/// The (class, method, callback) triples defined at load (see the module docs).
const METHODS: [(&std::ffi::CStr, &std::ffi::CStr, Method); 5] = [
    (c"Aggregator", c"add", aggregator_add),
    (c"Subscription", c"next", subscription_next),
    (c"Codec", c"encode", codec_encode),
    (c"Codec", c"decode", codec_decode),
    (c"Hub", c"publish", hub_publish),
];

/// Defines [`METHODS`] on the class prototypes of `exports` and installs the `raw` wrapper (napi-rs
/// calls this once per environment, after registering the classes); notes the environment of this
/// thread (`napi::realm::enter`, which `error::guard` throws errors with a retry time on).
#[napi(module_exports)]
pub fn define_fast_methods(exports: Object<'_>) -> napi::Result<()> {
    let env = exports.value().env;
    crate::napi::realm::enter(env);
    for (class, name, method) in METHODS {
        glue::define(env, exports.raw(), class, name, method).map_err(napi::Error::from)?;
    }
    install_raw(env, exports.raw()).map_err(napi::Error::from)
}

/// Runs the hub helper `installRaw` on `Message.prototype`.
fn install_raw(
    env: napi::sys::napi_env,
    exports: napi::sys::napi_value,
) -> crate::error::Result<()> {
    let class = raw::named(env, exports, c"Message")?;
    let proto = raw::named(env, class, c"prototype")?;
    script::call(env, HUB, c"installRaw", &[proto]).map(|_| ())
}
