// A jco / StarlingMonkey guest using the web `fetch` API for outbound requests (issue 10):
//   /all?t=URL   Promise.all over two GETs (two requests in flight: wasi:io/poll over several pollables)
//   /post?t=URL  a POST whose body StarlingMonkey writes after `outgoing-handler.handle`
// Each answers "STATUS TEXT" per request, one line each.
async function handle(request) {
  const url = new URL(request.url);
  const target = url.searchParams.get("t");
  let responses;
  if (url.pathname === "/all") {
    responses = await Promise.all([fetch(`${target}/one`), fetch(`${target}/two`)]);
  } else {
    responses = [await fetch(`${target}/post`, { method: "POST", body: "hello from js" })];
  }
  const lines = await Promise.all(responses.map(async (r) => `${r.status} ${await r.text()}`));
  return new Response(lines.join("\n"));
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
