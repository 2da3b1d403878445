// A Spin app for the spin-js-sdk (@spinframework/build-tools + @spinframework/wasi-http-proxy): SQLite,
// key-value and a variable through Spin's own interfaces, as the SDK's host-API packages wrap them.
import { Connection } from 'fermyon:spin/sqlite@2.0.0';
import { Connection as Connection3 } from 'spin:sqlite/sqlite@3.0.0';
import { Store } from 'fermyon:spin/key-value@2.0.0';
import { get as getVariable } from 'fermyon:spin/variables@2.0.0';

const json = (status, body) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

// A WIT value as JSON: [case, payload] (bigints as strings, blobs as hex).
const plain = (v) => [v.tag, v.tag === 'blob' ? Array.from(v.val, (b) => b.toString(16).padStart(2, '0')).join('')
  : v.tag === 'null' ? null : typeof v.val === 'bigint' ? String(v.val) : v.val];

function errorCase(e) {
  // componentize-js throws the WIT error variant as the `payload` of a ComponentError.
  const p = e && e.payload;
  return p ? (p.tag === 'io' ? `io: ${p.val}` : p.tag) : String(e);
}

async function handle(request) {
  const url = new URL(request.url);
  if (url.pathname === '/notes' && request.method === 'POST') {
    const text = await request.text();
    const db = Connection.open('default');
    db.execute('INSERT INTO notes(body, size, raw) VALUES (?, ?, ?)',
      [{ tag: 'text', val: text }, { tag: 'real', val: text.length / 2 }, { tag: 'blob', val: new TextEncoder().encode(text) }]);
    const store = Store.open('default');
    const prev = store.get('posts');
    const posts = (prev ? Number(new TextDecoder().decode(prev)) : 0) + 1;
    store.set('posts', new TextEncoder().encode(String(posts)));
    return json(201, { posts });
  }
  if (url.pathname === '/notes') {
    const db = Connection.open('default');
    const res = db.execute('SELECT id, body, size, raw, NULL AS absent FROM notes ORDER BY id', []);
    return json(200, { greeting: getVariable('greeting'), columns: res.columns,
                       rows: res.rows.map((r) => r.values.map(plain)) });
  }
  if (url.pathname === '/v3') {
    const db = Connection3.open('default');
    db.execute('INSERT INTO notes(body) VALUES (?)', [{ tag: 'text', val: 'v3' }]);
    return json(200, { rowid: String(db.lastInsertRowid()), changes: String(db.changes()) });
  }
  if (url.pathname === '/denied') {
    try {
      Connection.open('secret');
      return json(200, { opened: true });
    } catch (e) {
      return json(403, { error: errorCase(e) });
    }
  }
  if (url.pathname === '/bad') {
    try {
      Connection.open('default').execute('SELECT * FROM missing_table', []);
      return json(200, { error: null });
    } catch (e) {
      return json(400, { error: errorCase(e) });
    }
  }
  return json(404, { error: 'no such route' });
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
