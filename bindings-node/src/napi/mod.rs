//! The Node-API kit: every raw Node-API piece of the binding lives below this module, so that the
//! concept modules (`codec`, `window`, `hub`, `breaker`, `limit`, `server`, `connect`) only convert
//! arguments, call the core and map errors. Nothing here knows a dashfeed concept.
//!
//! - [`raw`]: the checked `napi_call!` macro and the value, string, byte and property calls the
//!   conversions make on their hot paths.
//! - [`js`]: native functions that carry Rust state, externals, compiled helper scripts, calls that
//!   catch what the callee throws, promises, references, timers, and the calls of user listeners.
//! - [`args`]: readers of JavaScript arguments and options objects whose wrong type is
//!   `invalid_input` (napi's own conversion would report `NumberExpected` and the like).
//! - [`convert`]: napi-rs's typed views of raw values (`Unknown`, class instances, object structs,
//!   externals), so that the concept modules need no `unsafe` to hand values to napi-rs.
//! - [`glue`]: plain Node-API callbacks for the methods called once per event or per message,
//!   defined on their class prototypes when the module loads.
//! - [`script`]: the JavaScript halves of the conversions (`bindings-node/js/*.js`), compiled once
//!   per environment.
//! - [`realm`]: per-environment state (built-ins, the `Buffer` slab).
//!
//! Every function here runs on the JavaScript thread of its `env`, with values of the running
//! callback's handle scope; each `unsafe` block says why its Node-API call is sound.

pub mod args;
pub mod convert;
pub mod glue;
pub mod js;
pub mod raw;
pub mod realm;
pub mod script;
