// httpFactory keeps one string per endpoint for its origin: the instance itself when it is already in
// normal form (no copy of the URL's origin), the URL's normalised origin otherwise.
import { assert } from "../_deps.ts";
import { httpFactory } from "../../mod.ts";

Deno.test("httpFactory sends to the normalised origin whether or not the instance is written in normal form", async () => {
  const urls: string[] = [];
  const factory = httpFactory({
    fetch: (input) => {
      urls.push(String(input));
      return Promise.resolve(new Response(null, { status: 204 }));
    },
    pathPrefix: "/v1",
  });
  const cases: [string, string][] = [
    ["10.0.0.1:8080", "http://10.0.0.1:8080/v1/a?b=1"],
    ["Service.LOCAL:8080", "http://service.local:8080/v1/a?b=1"],
    ["10.0.0.2:80", "http://10.0.0.2/v1/a?b=1"],
    ["[0:0::1]:9000", "http://[::1]:9000/v1/a?b=1"],
    ["example.com", "http://example.com/v1/a?b=1"],
  ];
  for (const [instance] of cases) {
    await factory(instance, {}).endpoint(new Request("http://any/a?b=1"));
  }
  assert.deepEqual(urls, cases.map(([, url]) => url));
});
