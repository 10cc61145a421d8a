// Starts the page's wasm. Trunk would inline this in index.html, which the page's
// Content-Security-Policy forbids; Trunk.toml's pattern_script points here instead and passes
// the hashed file names on the script element.
const script = document.querySelector("script[data-cyborg-start]");
const { default: init } = await import(script.dataset.js);
await init({ module_or_path: script.dataset.wasm });
