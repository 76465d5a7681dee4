// The worker's default export, which scripts/build.sh puts in place of worker-build's. worker-build
// exports a Proxy around a WorkerEntrypoint class: every request then builds a class instance and wraps
// its method in two more proxies. This is a plain module-worker object instead (README "Performance").
// Panic recovery stays as worker-build does it: a trap marks the instance critical, and the next event
// resets the Wasm state first. `Entrypoint`, `checkReinitialize` and `handleMaybeCritical` are names from
// worker-build's shim (worker-build 0.8.7, built with NO_MINIFY); `Entrypoint.prototype.resume` is the
// Rust export `resume` (src/adapter/entry.rs).
var shim_default = {
  fetch(request, env, ctx) {
    return gatewayEvent(() => gatewayAnswer(Entrypoint.prototype.fetch.call({ env, ctx }, request)));
  },
  scheduled(controller, env, ctx) {
    return gatewayEvent(() => Entrypoint.prototype.scheduled.call({ env, ctx }, controller));
  },
};

function gatewayEvent(run) {
  checkReinitialize();
  try {
    const result = run();
    return result instanceof Promise ? result.catch(gatewayCritical) : result;
  } catch (error) {
    return gatewayCritical(error);
  }
}

// The Rust handler's answer: a Response; a promise of one; or [task, promise], a request waiting on that
// promise, awaited here and its outcome handed back to `resume` until the request answers.
function gatewayAnswer(answer) {
  return Array.isArray(answer) ? gatewayResume(answer) : answer;
}

async function gatewayResume([task, promise]) {
  let answer = [task, promise];
  while (Array.isArray(answer)) {
    let value;
    let ok = true;
    try {
      value = await answer[1];
    } catch (error) {
      value = error;
      ok = false;
    }
    checkReinitialize();
    answer = Entrypoint.prototype.resume(answer[0], value, ok);
  }
  return answer;
}

function gatewayCritical(error) {
  handleMaybeCritical(error);
  throw error;
}
