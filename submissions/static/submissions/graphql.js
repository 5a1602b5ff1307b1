// What both pages need to talk to the API as the signed-in person: queries
// and mutations over HTTP (session cookie, CSRF header), subscriptions over
// one WebSocket (graphql-ws client) that retries for ever.
(function () {
  "use strict";

  class RequestRefused extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  function endpoint(root) {
    return new URL(root.dataset.graphqlUrl, window.location.href);
  }

  // Resolves with `data`; rejects with a RequestRefused whose message is the
  // server's (the first error's) or one that says the server could not be reached.
  async function request(root, query, variables) {
    let response;
    try {
      response = await fetch(endpoint(root), {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/graphql-response+json, application/json",
          "X-CSRFToken": Cookies.get("csrftoken") || "",
        },
        body: JSON.stringify({ query, variables }),
      });
    } catch (error) {
      throw new RequestRefused("The server could not be reached. Try again in a moment.", "NETWORK");
    }
    let result;
    try {
      result = await response.json();
    } catch (error) {
      throw new RequestRefused(`The server answered ${response.status}. Try again in a moment.`, "HTTP");
    }
    if (result.errors && result.errors.length) {
      const first = result.errors[0];
      throw new RequestRefused(first.message, (first.extensions || {}).code);
    }
    return result.data;
  }

  // One socket for all of a page's subscriptions; `on` gets connected/closed.
  function liveClient(root, on) {
    return graphqlWs.createClient({
      url: endpoint(root).href.replace(/^http/, "ws"),
      // The session cookie authenticates the page; no token in the browser.
      retryAttempts: Infinity,
      shouldRetry: () => true,
      keepAlive: 20000,
      on,
    });
  }

  function errorCode(errors) {
    return ((errors[0] || {}).extensions || {}).code;
  }

  window.pageGraphql = { request, liveClient, errorCode, RequestRefused };
})();
