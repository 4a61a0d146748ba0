/**
 * A self-contained API page (no CDN, no external script: it works offline): it reads
 * /openapi.json and lists each operation with its request fields, their types and descriptions.
 */
export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>streamscore online scoring</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
code, pre { font: 13px ui-monospace, monospace; background: #f5f5f5; }
pre { padding: .75rem; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; }
.method { font-weight: bold; color: #06c; }
</style>
</head>
<body>
<h1>streamscore online scoring</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Requests need
<code>Authorization: Bearer &lt;token&gt;</code> unless the pipeline is served with <code>auth: none</code>.</p>
<div id="ops">Loading /openapi.json …</div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const typeOf = (s) => {
  if (!s) return '';
  if (s.anyOf) return s.anyOf.map(typeOf).join(' | ');
  const t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || '');
  return s.format ? t + ' (' + s.format + ')' : t;
};
fetch('/openapi.json').then((r) => r.json()).then((doc) => {
  const schemas = doc.components.schemas;
  let html = '';
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      html += '<h2><span class="method">' + method.toUpperCase() + '</span> <code>' + esc(path) + '</code></h2>';
      html += '<p>' + esc(op.summary || '') + ' ' + esc(op.description || '') + '</p>';
      const body = op.requestBody && op.requestBody.content['application/json'].schema.oneOf[0].$ref;
      if (body) {
        const rec = schemas[body.split('/').pop()];
        const row = schemas[rec.properties.after.$ref.split('/').pop()];
        html += '<table><tr><th>after.</th><th>type</th><th>value</th></tr>';
        for (const [name, f] of Object.entries(row.properties || {})) {
          html += '<tr><td><code>' + esc(name) + '</code></td><td>' + esc(typeOf(f)) + '</td><td>' + esc(f.description || '') + '</td></tr>';
        }
        html += '</table>';
        html += '<pre>curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\\\\\n  -d \\'{"after": {…}}\\' http://' + esc(location.host) + esc(path) + '</pre>';
        html += '<p>Responses: ' + Object.keys(op.responses).map(esc).join(', ') + '</p>';
      }
    }
  }
  document.getElementById('ops').innerHTML = html;
}).catch((e) => { document.getElementById('ops').textContent = 'Could not read /openapi.json: ' + e; });
</script>
</body>
</html>
`;
