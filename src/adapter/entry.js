// The worker's default export, which scripts/build.sh puts in place of worker-build's. worker-build
// exports a Proxy around a WorkerEntrypoint class: every request then builds a class instance and wraps
// its method in two more proxies. This is a plain module-worker object instead (README "Performance").
// Panic recovery stays as worker-build does it: a trap marks the instance critical, and the next event
// resets the Wasm state first. `Entrypoint`, `checkReinitialize` and `handleMaybeCritical` are names from
// worker-build's shim (worker-build 0.8.7, built with NO_MINIFY).
var shim_default = {
  fetch(request, env, ctx) {
    return gatewayEvent(Entrypoint.prototype.fetch, { env, ctx }, request);
  },
  scheduled(controller, env, ctx) {
    return gatewayEvent(Entrypoint.prototype.scheduled, { env, ctx }, controller);
  },
};

// The Rust handler's answer as it is: a Response, or a promise of one when the request waited for I/O.
function gatewayEvent(handler, self, event) {
  checkReinitialize();
  try {
    const result = handler.call(self, event);
    return result instanceof Promise ? result.catch(gatewayCritical) : result;
  } catch (error) {
    return gatewayCritical(error);
  }
}

function gatewayCritical(error) {
  handleMaybeCritical(error);
  throw error;
}
