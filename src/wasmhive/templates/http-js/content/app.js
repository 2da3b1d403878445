// {{project-name}}: a wasi:http handler in JavaScript (jco componentize, StarlingMonkey).
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from "wasi:http/types@0.2.12";

const encoder = new TextEncoder();

function handle(request, responseOut) {
  const path = request.pathWithQuery() || "/";
  const response = new OutgoingResponse(Fields.fromList([["content-type", encoder.encode("text/plain")]]));
  response.setStatusCode(200);
  const body = response.body();
  ResponseOutparam.set(responseOut, { tag: "ok", val: response });
  const stream = body.write();
  stream.blockingWriteAndFlush(encoder.encode(`Hello from {{project-name}} (JS)! You asked for ${path}\n`));
  stream[Symbol.dispose]();
  OutgoingBody.finish(body, undefined);
}

export const incomingHandler = { handle };
