// AuthStack demo client: plain JavaScript, no build step, same origin as the APIs (the gateway serves it at /app/).
//
// Token handling, the point of the demo:
// - the access token lives in the `accessToken` variable below and nowhere else (no storage, no cookie);
// - the refresh token lives only in the HttpOnly cookie the identity service sets: this script never reads it, and
//   drops the copy that token responses also carry in their JSON body;
// - a 401 `token_expired` triggers one refresh (POST /refresh, cookie only, no body) and one retry;
// - refreshes within this tab are single-flight; two tabs refreshing at the same moment present the same cookie, and
//   the server's grace window answers the second with the same successor, so both tabs stay logged in;
// - on page load a silent refresh restores the session from the cookie.
'use strict';

(() => {
  /** The current access token, or null when logged out. Memory only. */
  let accessToken = null;
  /** The refresh in flight in this tab, shared by every caller that needs one (single-flight). */
  let refreshInFlight = null;
  /** Cursor of the next page of notes, or null on the last page. */
  let nextCursor = null;

  const $ = (id) => document.getElementById(id);

  /** A problem+json answer (RFC 9457) or a network failure, with the `detail` to show. */
  class ApiError extends Error {
    constructor(status, code, detail) {
      super(detail);
      this.status = status;
      this.code = code;
    }
  }

  async function problemFrom(response) {
    let problem = {};
    try {
      problem = await response.json();
    } catch (_) {
      // A body that is not JSON (a proxy's HTML error page): fall back to the status line.
    }
    const detail = typeof problem.detail === 'string' ? problem.detail : `The server answered ${response.status}.`;
    return new ApiError(response.status, problem.code || null, detail);
  }

  async function send(path, method, json, withToken) {
    const headers = {};
    if (json !== undefined) headers['Content-Type'] = 'application/json';
    if (withToken && accessToken) headers.Authorization = `Bearer ${accessToken}`;
    try {
      return await fetch(path, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (_) {
      throw new ApiError(0, 'network_error', 'The server cannot be reached. Check your connection and try again.');
    }
  }

  /** Takes the access token from a token response; the refresh token in the same body is deliberately dropped. */
  async function acceptTokens(response) {
    const body = await response.json();
    accessToken = body.access_token;
  }

  /** POST /refresh with the cookie; concurrent callers in this tab share one request. */
  function refresh() {
    if (!refreshInFlight) {
      refreshInFlight = (async () => {
        try {
          const response = await send('/refresh', 'POST', undefined, false);
          if (!response.ok) {
            accessToken = null;
            throw await problemFrom(response);
          }
          await acceptTokens(response);
        } finally {
          refreshInFlight = null;
        }
      })();
    }
    return refreshInFlight;
  }

  /**
   * A bearer call. On 401 `token_expired` it refreshes once and retries once; when another call already refreshed
   * while this one was on the wire, it only retries.
   */
  async function api(path, { method = 'GET', json } = {}) {
    const tokenUsed = accessToken;
    let response = await send(path, method, json, true);
    if (response.status === 401) {
      const problem = await problemFrom(response);
      if (problem.code !== 'token_expired') {
        // Not an expiry (a revoked key, a malformed token): this token is no good; the login view takes over.
        accessToken = null;
        throw problem;
      }
      if (accessToken === tokenUsed) await refresh();
      response = await send(path, method, json, true);
    }
    if (!response.ok) throw await problemFrom(response);
    return response.status === 204 ? null : response.json();
  }

  // MARK: Views

  function showError(error) {
    const box = $('error');
    box.textContent = error instanceof ApiError ? error.message : 'Something went wrong. Reload the page.';
    box.hidden = false;
    if (!(error instanceof ApiError)) console.error(error);
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  function say(text) {
    $('status').textContent = text;
  }

  /**
   * Runs a user action: clears the last error, shows a new one, and returns to the login view when the session is
   * gone. The buttons of `busy` (a form or list item) are disabled meanwhile, so a slow answer cannot be submitted twice.
   */
  async function act(action, busy) {
    clearError();
    const buttons = busy ? [...busy.querySelectorAll('button')] : [];
    for (const button of buttons) button.disabled = true;
    try {
      await action();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && accessToken === null) {
        showLoggedOut();
      }
      showError(error);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  function showLoggedOut() {
    accessToken = null;
    nextCursor = null;
    $('notes').replaceChildren();
    $('sessions').replaceChildren();
    $('username').textContent = '';
    for (const id of ['who', 'logout', 'notes-view', 'sessions-view']) $(id).hidden = true;
    $('auth-view').hidden = false;
    document.body.dataset.state = 'logged-out';
  }

  async function showLoggedIn() {
    const me = await api('/me');
    $('username').textContent = me.username;
    for (const id of ['who', 'logout', 'notes-view', 'sessions-view']) $(id).hidden = false;
    $('auth-view').hidden = true;
    await Promise.all([loadNotes(), loadSessions()]);
    document.body.dataset.state = 'logged-in';
  }

  function formatTime(text) {
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
  }

  // MARK: Notes

  function renderNote(note) {
    const item = $('note-template').content.firstElementChild.cloneNode(true);
    item.dataset.id = note.id;
    const fill = (value) => {
      item.querySelector('.note-title').textContent = value.title;
      item.querySelector('.note-body').textContent = value.body;
      item.querySelector('.note-body').hidden = value.body === '';
      item.querySelector('.note-meta').textContent = `Updated ${formatTime(value.updated_at)}`;
    };
    fill(note);
    const view = item.querySelector('.note-view');
    const form = item.querySelector('.note-edit');
    item.querySelector('.edit').addEventListener('click', () => {
      form.elements.title.value = item.querySelector('.note-title').textContent;
      form.elements.body.value = item.querySelector('.note-body').textContent;
      view.hidden = true;
      form.hidden = false;
      form.elements.title.focus();
    });
    item.querySelector('.cancel').addEventListener('click', () => {
      form.hidden = true;
      view.hidden = false;
      item.querySelector('.edit').focus();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      act(async () => {
        const updated = await api(`/notes/${encodeURIComponent(note.id)}`, {
          method: 'PATCH',
          json: { title: form.elements.title.value, body: form.elements.body.value },
        });
        fill(updated);
        form.hidden = true;
        view.hidden = false;
        say(`Saved “${updated.title}”.`);
      }, form);
    });
    item.querySelector('.delete').addEventListener('click', () => {
      act(async () => {
        await api(`/notes/${encodeURIComponent(note.id)}`, { method: 'DELETE' });
        item.remove();
        $('notes-empty').hidden = $('notes').children.length > 0;
        say(`Deleted “${item.querySelector('.note-title').textContent}”.`);
      }, item);
    });
    return item;
  }

  async function loadNotes({ more = false } = {}) {
    const query = more && nextCursor ? `?limit=20&cursor=${encodeURIComponent(nextCursor)}` : '?limit=20';
    const page = await api(`/notes${query}`);
    const items = page.notes.map(renderNote);
    if (more) $('notes').append(...items);
    else $('notes').replaceChildren(...items);
    nextCursor = page.next_cursor;
    $('more-notes').hidden = nextCursor === null;
    $('notes-empty').hidden = $('notes').children.length > 0;
  }

  // MARK: Sessions

  function describeAgent(agent) {
    if (!agent) return 'Unknown client';
    const browser = /(Firefox|Edg|Chrome|Chromium|Safari|curl)\/[\d.]+/.exec(agent);
    return browser ? browser[0].replace('Edg/', 'Edge/') : agent.slice(0, 80);
  }

  function renderSession(session) {
    const item = $('session-template').content.firstElementChild.cloneNode(true);
    item.dataset.id = session.id;
    item.querySelector('.session-agent').textContent =
      describeAgent(session.user_agent) + (session.current ? ' — this browser' : '');
    item.querySelector('.session-meta').textContent =
      `Started ${formatTime(session.created_at)}, last used ${formatTime(session.last_used_at)}`;
    if (session.current) item.classList.add('current');
    item.querySelector('.end').addEventListener('click', () => {
      act(async () => {
        await api(`/sessions/${encodeURIComponent(session.id)}`, { method: 'DELETE' });
        if (session.current) {
          // Ending this browser's session is a logout: the server cleared the cookie.
          showLoggedOut();
          say('This session ended; you are logged out.');
        } else {
          item.remove();
          say('Session ended.');
        }
      }, item);
    });
    return item;
  }

  async function loadSessions() {
    const body = await api('/sessions');
    $('sessions').replaceChildren(...body.sessions.map(renderSession));
  }

  // MARK: Wiring

  function wire() {
    $('auth-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const mode = event.submitter && event.submitter.value === 'signup' ? 'signup' : 'login';
      const form = event.target;
      say(mode === 'signup' ? 'Signing up…' : 'Logging in…');
      act(async () => {
        const response = await send(`/${mode}`, 'POST', {
          username: form.elements.username.value,
          password: form.elements.password.value,
        }, false);
        if (!response.ok) throw await problemFrom(response);
        await acceptTokens(response);
        form.elements.password.value = '';
        await showLoggedIn();
        say(mode === 'signup' ? 'Welcome! Your account is ready.' : 'Logged in.');
      }, form).finally(() => {
        if (document.body.dataset.state !== 'logged-in') say('');
      });
    });

    $('new-note').addEventListener('submit', (event) => {
      event.preventDefault();
      const form = event.target;
      act(async () => {
        const note = await api('/notes', { method: 'POST', json: { title: form.elements.title.value, body: form.elements.body.value } });
        $('notes').prepend(renderNote(note));
        $('notes-empty').hidden = true;
        form.reset();
        form.elements.title.focus();
        say(`Added “${note.title}”.`);
      }, form);
    });

    $('reload-notes').addEventListener('click', () => act(async () => {
      await loadNotes();
      say('Notes reloaded.');
    }));
    $('more-notes').addEventListener('click', () => act(() => loadNotes({ more: true })));
    $('reload-sessions').addEventListener('click', () => act(loadSessions));

    $('logout').addEventListener('click', () => act(async () => {
      // The server revokes the session and clears the cookie; the access token is simply forgotten (it stays valid
      // until it expires, which is why its lifetime is short).
      const response = await send('/logout', 'POST', undefined, false);
      showLoggedOut();
      if (!response.ok) throw await problemFrom(response);
      say('Logged out.');
    }));
  }

  async function start() {
    wire();
    try {
      await refresh();
    } catch (error) {
      showLoggedOut();
      // No cookie, or a session that ended, is the normal logged-out start; anything else is worth showing.
      if (!(error instanceof ApiError && error.status === 401)) showError(error);
      return;
    }
    await act(showLoggedIn);
  }

  start();
})();
