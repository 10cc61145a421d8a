//! Where bundles come from: a URL (downloaded with progress), a local file, and the browser's
//! Cache API, which keeps every bundle that loaded so a reload needs no network.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, Headers, Response, ResponseInit};

use super::worker::describe;

/// The Cache API store; its name changes only if what it stores changes meaning.
const CACHE_NAME: &str = "cyborg-bundles-v1";
const NAME_HEADER: &str = "x-cyborg-name";
const SAVED_HEADER: &str = "x-cyborg-saved";
const BYTES_HEADER: &str = "x-cyborg-bytes";

/// A bundle kept in the browser's cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedBundle {
    /// The cache key: the bundle's URL, or a page-local URL for a bundle opened from a file.
    pub key: String,
    /// What the person knows it as: the file name or URL.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was stored (ISO 8601).
    pub saved: String,
}

/// Why a download failed.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadError {
    /// The server answered 404: there is nothing at that address.
    NotFound(String),
    /// Anything else, said in full.
    Failed(String),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownloadError::NotFound(message) | DownloadError::Failed(message) => {
                f.write_str(message)
            }
        }
    }
}

/// Downloads `url`, calling `progress(received, total)` as bytes arrive.
pub async fn download(
    url: &str,
    progress: impl Fn(u64, Option<u64>),
) -> Result<Vec<u8>, DownloadError> {
    let response = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| {
            DownloadError::Failed(format!(
                "could not download {url}: {e} (offline, or its server does not let this page \
                 read it)"
            ))
        })?;
    if !response.ok() {
        let message = format!(
            "could not download {url}: the server answered {} {}",
            response.status(),
            response.status_text()
        );
        return Err(match response.status() {
            404 => DownloadError::NotFound(message),
            _ => DownloadError::Failed(message),
        });
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|n| n.parse::<u64>().ok());
    let Some(body) = response.body() else {
        return Ok(Vec::new());
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0) as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| {
            DownloadError::Failed(format!("the download of {url} broke off: {}", describe(&e)))
        })?;
        if js_sys::Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).unwrap_or(JsValue::UNDEFINED);
        bytes.extend(Uint8Array::new(&value).to_vec());
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}

/// The bytes of a file the person picked or dropped.
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("could not read {}: {}", file.name(), describe(&e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// The cache key for a bundle opened from a local file.
pub fn local_key(file_name: &str) -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    format!(
        "{origin}/local-bundles/{}",
        String::from(js_sys::encode_uri_component(file_name))
    )
}

async fn open() -> Result<Cache, String> {
    let caches = web_sys::window()
        .ok_or("no window")?
        .caches()
        .map_err(|e| format!("this browser keeps no cache here: {}", describe(&e)))?;
    let cache = JsFuture::from(caches.open(CACHE_NAME))
        .await
        .map_err(|e| format!("could not open the model cache: {}", describe(&e)))?;
    Ok(cache.unchecked_into())
}

/// The cached bytes under `key`, if any, left in JavaScript's memory (they go to the worker).
pub async fn cached(key: &str) -> Option<Uint8Array> {
    let cache = open().await.ok()?;
    let found = JsFuture::from(cache.match_with_str(key)).await.ok()?;
    let response: Response = found.dyn_into().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer))
}

/// Keeps `bytes` under `key`, remembered as `name`.
pub async fn keep(key: &str, name: &str, bytes: &Uint8Array) -> Result<(), String> {
    let cache = open().await?;
    let headers = Headers::new().map_err(|e| describe(&e))?;
    let saved = String::from(js_sys::Date::new_0().to_iso_string());
    for (header, value) in [
        (
            NAME_HEADER,
            String::from(js_sys::encode_uri_component(name)),
        ),
        (SAVED_HEADER, saved),
        (BYTES_HEADER, bytes.length().to_string()),
        ("content-type", "application/octet-stream".to_string()),
    ] {
        headers.set(header, &value).map_err(|e| describe(&e))?;
    }
    let init = ResponseInit::new();
    init.set_headers_headers(&headers);
    let response = Response::new_with_opt_buffer_source_and_init(Some(bytes), &init)
        .map_err(|e| describe(&e))?;
    JsFuture::from(cache.put_with_str(key, &response))
        .await
        .map_err(|e| format!("could not keep {name} in the model cache: {}", describe(&e)))?;
    Ok(())
}

/// Every cached bundle, oldest first.
pub async fn list() -> Result<Vec<CachedBundle>, String> {
    let cache = open().await?;
    let requests: Array = JsFuture::from(cache.keys())
        .await
        .map_err(|e| describe(&e))?
        .unchecked_into();
    let mut bundles = Vec::new();
    for request in requests.iter() {
        let key = request.unchecked_into::<web_sys::Request>().url();
        let Ok(found) = JsFuture::from(cache.match_with_str(&key)).await else {
            continue;
        };
        let Ok(response) = found.dyn_into::<Response>() else {
            continue;
        };
        let headers = response.headers();
        let header = |name: &str| headers.get(name).ok().flatten().unwrap_or_default();
        let name = js_sys::decode_uri_component(&header(NAME_HEADER))
            .map(String::from)
            .unwrap_or_else(|_| key.clone());
        let saved = header(SAVED_HEADER);
        bundles.push(CachedBundle {
            key,
            name,
            bytes: header(BYTES_HEADER).parse().unwrap_or(0),
            saved,
        });
    }
    Ok(bundles)
}

/// Removes the bundle under `key` from the cache.
pub async fn forget(key: &str) -> Result<(), String> {
    let cache = open().await?;
    JsFuture::from(cache.delete_with_str(key))
        .await
        .map_err(|e| {
            format!(
                "could not delete {key} from the model cache: {}",
                describe(&e)
            )
        })?;
    Ok(())
}
