// The task detail page: forwards button clicks to the extension as messages and swaps in the
// HTML the extension sends on updates (already escaped there). No task text is handled here.
// @ts-check
(function () {
  // eslint-disable-next-line no-undef
  const vscode = acquireVsCodeApi();
  document.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target.closest('[data-command]') : null;
    if (!(target instanceof HTMLElement)) return;
    event.preventDefault();
    vscode.postMessage({ command: target.dataset.command, agent: target.dataset.agent });
  });
  window.addEventListener('message', (event) => {
    const msg = event.data;
    const root = document.getElementById('root');
    if (msg && msg.type === 'update' && typeof msg.html === 'string' && root) root.innerHTML = msg.html;
  });
})();
