// What both pages need to talk to the API as the signed-in person: queries
// and mutations over HTTP (session cookie, CSRF header), subscriptions over
// one WebSocket (graphql-ws client) that retries for ever, unless the
// server refuses the page's credentials (its session has ended).
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

  // The close code of a socket whose credentials were refused: signed out,
  // or the session expired. Retrying cannot help; signing in again can.
  const SIGNED_OUT = 4403;

  function isSignedOut(closeEvent) {
    return Boolean(closeEvent) && closeEvent.code === SIGNED_OUT;
  }

  // One socket for all of a page's subscriptions; `on` gets connected/closed.
  function liveClient(root, on) {
    return graphqlWs.createClient({
      url: endpoint(root).href.replace(/^http/, "ws"),
      // The session cookie authenticates the page; no token in the browser.
      retryAttempts: Infinity,
      shouldRetry: (closeEvent) => !isSignedOut(closeEvent),
      keepAlive: 20000,
      on,
    });
  }

  // A sink's error is either the operation's GraphQL errors (an array: that
  // operation alone was refused) or the socket's closing (the page is offline).
  function isOperationError(error) {
    return Array.isArray(error);
  }

  // Shows the page's "your session has ended" note (base.html), whose
  // sign-in link leads back to this page, and moves the focus to it.
  function showSignedOut() {
    document.getElementById("signed-out").hidden = false;
    document.getElementById("signed-out-heading").focus();
  }

  function errorCode(errors) {
    return ((errors[0] || {}).extensions || {}).code;
  }

  window.pageGraphql = { request, liveClient, errorCode, isSignedOut, isOperationError, showSignedOut, RequestRefused };
})();
