//! The methods that run once per event or per delivered message, defined with plain Node-API
//! callbacks (see `napi::glue`) when the module loads into an environment, right after napi-rs
//! registered the classes: what `index.js` exports already holds the methods that run.
//!
//! Each one is justified by a row of the Node benchmarks (`bench/README.md`). Bench rows:
//! - `Aggregator.prototype.add`: `node bench/window.js`, row "dashfeed add (per event)";
//! - `Subscription.prototype.next`: `node bench/hub.js`, the `for await` delivery rows;
//! - `Message.prototype.raw`: `node bench/hub.js`, the rows that forward `raw()` bytes; it is then
//!   wrapped by `installRaw` (bindings-node/js/hub.js), which keeps the Buffer on the message object
//!   so that the subscribers sharing it make one native call per publication, not one each.

use crate::hub::HUB;
use crate::hub::{message_raw, subscription_next};
use crate::napi::glue::{self, Method};
use crate::napi::{raw, script};
use crate::window::aggregator_add;
use napi::bindgen_prelude::Object;
use napi::JsValue;
use napi_derive::napi;

/// The (class, method, callback) triples defined at load.
const METHODS: [(&std::ffi::CStr, &std::ffi::CStr, Method); 3] = [
    (c"Aggregator", c"add", aggregator_add),
    (c"Subscription", c"next", subscription_next),
    (c"Message", c"raw", message_raw),
];

/// Defines [`METHODS`] on the class prototypes of `exports` (napi-rs calls this once per
/// environment, after registering the classes).
#[napi(module_exports)]
pub fn define_fast_methods(exports: Object<'_>) -> napi::Result<()> {
    let env = exports.value().env;
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
