// A spin-js-sdk app (@spinframework/build-tools + @spinframework/wasi-http-proxy) using Spin's outbound
// interfaces directly, as the SDK's host-API packages wrap them: Redis, PostgreSQL, MySQL, MQTT and LLM
// embeddings. Each route takes the address to open in `?addr=`, so a test can also name one not granted.
import { Connection as Redis } from 'fermyon:spin/redis@2.0.0';
import { Connection as Postgres } from 'fermyon:spin/postgres@2.0.0';
import { Connection as Mysql } from 'fermyon:spin/mysql@2.0.0';
import { Connection as Mqtt } from 'fermyon:spin/mqtt@2.0.0';
import { generateEmbeddings } from 'fermyon:spin/llm@2.0.0';

const enc = new TextEncoder();
const dec = new TextDecoder();

const json = (status, body) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

// A WIT variant value as JSON: [case, payload] (bigints as strings, bytes as text).
const plain = (v) => [v.tag, v.val === undefined ? null : typeof v.val === 'bigint' ? String(v.val)
  : v.val instanceof Uint8Array ? dec.decode(v.val) : v.val];

function errorCase(e) {
  // componentize-js throws the WIT error variant as the `payload` of a ComponentError.
  const p = e && e.payload;
  if (!p) return String(e);
  const val = p.val && typeof p.val === 'object' ? JSON.stringify(p.val) : p.val;
  return val === undefined ? p.tag : `${p.tag}: ${val}`;
}

function redis(addr, prefix) {
  const c = Redis.open(addr);
  c.set(`${prefix}k`, enc.encode('from js'));
  const got = c.get(`${prefix}k`);
  const missing = c.get(`${prefix}missing`);
  const n1 = c.incr(`${prefix}n`);
  const n2 = c.incr(`${prefix}n`);
  const added = c.sadd(`${prefix}s`, ['a', 'b', 'c']);
  const removed = c.srem(`${prefix}s`, ['b']);
  const members = c.smembers(`${prefix}s`).sort();
  c.publish(`${prefix}chan`, enc.encode('hello from js'));
  const incrby = c.execute('INCRBY', [{ tag: 'binary', val: enc.encode(`${prefix}n`) }, { tag: 'int64', val: 40n }]);
  const deleted = c.del([`${prefix}k`, `${prefix}absent`]);
  return { get: dec.decode(got), missing: missing === undefined ? null : 'present', incr: [String(n1), String(n2)],
           added, removed, members, incrby: incrby.map(plain), deleted };
}

// PostgreSQL and MySQL: the same table, parameters of several types, rows back with their column types.
function rdbms(conn, placeholders, createSql) {
  const [a, b, c, d] = placeholders;
  conn.execute('DROP TABLE IF EXISTS js_items', []);
  conn.execute(createSql, []);
  const params = [{ tag: 'int32', val: 7 }, { tag: 'str', val: 'zß€ from js' }, { tag: 'floating64', val: 2.5 },
                  { tag: 'db-null' }];
  const affected = conn.execute(`INSERT INTO js_items(n, name, price, note) VALUES (${a}, ${b}, ${c}, ${d})`, params);
  const res = conn.query(`SELECT n, name, price, note FROM js_items WHERE n = ${a}`, [{ tag: 'int32', val: 7 }]);
  return { affected: affected === undefined ? null : String(affected), columns: res.columns.map((col) => col.name),
           rows: res.rows.map((row) => row.map(plain)) };
}

function mqtt(addr, topic) {
  const c = Mqtt.open(addr, '', '', 30n);
  c.publish(topic, enc.encode('qos0 from js'), 'at-most-once');
  c.publish(topic, enc.encode('qos1 from js'), 'at-least-once');
  c.publish(topic, enc.encode('qos2 from js'), 'exactly-once');
  return { published: 3 };
}

function embeddings(model, texts) {
  const res = generateEmbeddings(model, texts);
  return { embeddings: res.embeddings.map((v) => Array.from(v)), tokens: res.usage.promptTokenCount };
}

async function handle(request) {
  const url = new URL(request.url);
  const q = url.searchParams;
  try {
    switch (url.pathname) {
      case '/redis':
        return json(200, redis(q.get('addr'), q.get('prefix') || 'js:'));
      case '/postgres':
        return json(200, rdbms(Postgres.open(q.get('addr')), ['$1', '$2', '$3', '$4'],
          'CREATE TABLE js_items (n integer, name text, price float8, note text)'));
      case '/mysql':
        return json(200, rdbms(Mysql.open(q.get('addr')), ['?', '?', '?', '?'],
          'CREATE TABLE js_items (n INT, name VARCHAR(40), price DOUBLE, note TEXT) CHARACTER SET utf8mb4'));
      case '/mqtt':
        return json(200, mqtt(q.get('addr'), q.get('topic')));
      case '/llm':
        return json(200, embeddings(q.get('model'), JSON.parse(await request.text())));
      default:
        return json(404, { error: 'no such route' });
    }
  } catch (e) {
    return json(502, { error: errorCase(e) });
  }
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
