// One ZooKeeper scenario for Node 20 and Bun: a registrar's node appears in an instancer on another
// session, then disappears on deregister. Node uses the example's node:net adapter; Bun the library's
// own, found by feature detection. Prints PASS/FAIL lines and exits non-zero on failure.
// Usage: <node|bun> scenario.mjs <bundle.js> <host:port>
const [bundlePath, address] = process.argv.slice(2);
const runtime = typeof Bun === "undefined" ? "node" : "bun";
const { ZkClient, ZkInstancer, ZkRegistrar, nodeConnect } = await import(bundlePath);
const options = runtime === "node" ? { connect: nodeConnect, timeout: 10_000 } : { timeout: 10_000 };

function waitFor(instancer, predicate, what) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(
      () => reject(new Error(`${what}: not seen in 10 s; saw ${JSON.stringify(seen)}`)),
      10_000,
    );
    const subscription = instancer.subscribe((event) => {
      seen.push(event.instances ?? String(event.error));
      if (event.instances && predicate(event.instances)) {
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve();
      }
    });
  });
}

const path = `/sd-${runtime}-${crypto.randomUUID().slice(0, 8)}/api`;
const watcher = new ZkClient(address, options);
const owner = new ZkClient(address, options);
const instancer = new ZkInstancer(watcher, path, { createParents: true });
let failed = false;
try {
  const registrar = new ZkRegistrar(owner, { path, instance: "10.9.8.7:8080" });
  const appeared = waitFor(instancer, (list) => list.join() === "10.9.8.7:8080", "registration");
  await registrar.register();
  await appeared;
  console.log(
    `  PASS ${runtime}: a registration through ${
      runtime === "node" ? "node:net" : "Bun's socket"
    } reached the instancer`,
  );
  const gone = waitFor(instancer, (list) => list.length === 0, "deregistration");
  await registrar.deregister();
  await gone;
  console.log(`  PASS ${runtime}: deregister() removed exactly the registrar's node`);
} catch (error) {
  failed = true;
  console.log(`  FAIL ${runtime}: ${error?.stack ?? error}`);
} finally {
  instancer.stop();
  await owner.close();
  await watcher.close();
}
process.exit(failed ? 1 : 0);
