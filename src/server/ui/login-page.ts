/** The page a browser gets with a 401 on a token-protected server: a form that POSTs the token to /ui/login. */

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML of the login form; `message` (plain text, escaped here) says why the last try failed. */
export function loginPage(message?: string): string {
  const note = message ? `<p class="err" role="alert">${message.replace(/[&<>"']/g, (c) => ESC[c])}</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>kiln — sign in</title>
<style>body{font:15px system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#222}
input{font:inherit;width:100%;box-sizing:border-box;padding:.4rem;margin:.4rem 0}button{font:inherit;padding:.4rem 1rem}
.err{color:#b00020}</style></head>
<body><h1>kiln</h1><p>This server needs its token (the first line of <code>kiln serve --token-file</code>).</p>${note}
<form method="post" action="/ui/login"><label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button></form></body></html>
`;
}
