// Starts GraphiQL on /graphql's page (hub/templates/graphiql.html). A file, not an inline
// script: the page's Content-Security-Policy allows scripts from the hub only.
"use strict";
(function () {
  var root = document.getElementById("graphiql");
  if (!root || !window.GraphiQL || !window.React || !window.ReactDOM) {
    return;
  }
  var endpoint = new URL(root.dataset.endpoint || "/graphql", window.location.href);
  var socket = new URL(endpoint.toString());
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  // Subscriptions go over a WebSocket; GraphiQL sends the header editor's JSON as the
  // connection's parameters, which the hub reads like the HTTP headers.
  var send = window.GraphiQL.createFetcher({
    url: endpoint.toString(),
    subscriptionUrl: socket.toString(),
  });
  // Nothing goes to the hub until the Headers tab holds a token: not the schema's
  // introspection when the page opens, not a query run with the placeholder. GraphiQL
  // shows the hint (translated, from the page) where the answer would be.
  var placeholder = root.dataset.placeholderToken || "TOKEN";
  function hasToken(headers) {
    var auth = "";
    if (headers) {
      for (var name in headers) {
        if (name.toLowerCase() === "authorization") {
          auth = String(headers[name] || "");
        }
      }
    }
    var match = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    return Boolean(match) && match[1] !== placeholder;
  }
  function fetcher(params, options) {
    if (!hasToken(options && options.headers)) {
      return Promise.resolve({
        errors: [{ message: root.dataset.hintNoToken || "Enter an access token first." }],
      });
    }
    return send(params, options);
  }
  var app = window.React.createElement(window.GraphiQL, {
    fetcher: fetcher,
    defaultQuery: root.dataset.query || "",
    defaultHeaders: root.dataset.headers || "",
    isHeadersEditorEnabled: true,
    // The headers hold a bearer token: never written to the browser's storage.
    shouldPersistHeaders: false,
    // The Headers tab open from the start: no request works without them.
    defaultEditorToolsVisibility: "headers",
  });
  window.ReactDOM.createRoot(root).render(app);

  // GraphiQL's editors (CodeMirror) type into textareas that carry no label: name each one
  // (the names come translated from the page), whenever GraphiQL draws them anew.
  var labels = root.dataset;
  function label(selector, text) {
    var areas = root.querySelectorAll(selector);
    for (var i = 0; i < areas.length; i++) {
      if (text && areas[i].getAttribute("aria-label") !== text) {
        areas[i].setAttribute("aria-label", text);
      }
    }
  }
  function labelAll() {
    label(".graphiql-query-editor textarea", labels.labelQuery);
    label(".graphiql-response textarea", labels.labelResponse);
    var tools = root.querySelectorAll(".graphiql-editor-tool .graphiql-editor");
    // GraphiQL draws the variables editor first, then the headers editor.
    if (tools.length > 0) {
      label(".graphiql-editor-tool .graphiql-editor:nth-of-type(1) textarea", labels.labelVariables);
    }
    if (tools.length > 1) {
      label(".graphiql-editor-tool .graphiql-editor:nth-of-type(2) textarea", labels.labelHeaders);
    }
  }
  new MutationObserver(labelAll).observe(root, { childList: true, subtree: true });
  labelAll();
})();
