// Keeping secrets out of error messages and logs; internal.
//
// Anything quoted into a message (a URL a user configured, a body a server sent back, a thrown
// value) goes through `redact` first: errors end up in logs, dashboards and HTTP answers, and a
// server that echoes the request can hand a token straight back.

/** What replaces a secret. */
export const REDACTED = "***";

// `scheme://userinfo@`, or `user:password@host` without a scheme (a host:port option that gets
// `http://` put in front): the password is whatever follows the first ":" of the userinfo, up to the
// last "@" before the path (the WHATWG parser splits there too).
const USERINFO = /(^|[\s"'\\/?#@(<[=,;])([a-z][a-z0-9+.-]*:\/\/)?([^\s"'\\/?#@]*(?:@[^\s"'\\/?#@]*)*)@/gi;

// Names whose values are secrets: HTTP auth headers, Consul's token header and query parameter, and
// the usual parameter and JSON field names.
const KEYS = [
  "proxy-authorization",
  "authorization",
  "x-consul-token",
  "x-vault-token",
  "access_token",
  "refresh_token",
  "id_token",
  "auth_token",
  "api_key",
  "api-key",
  "apikey",
  "token",
  "password",
  "passwd",
  "secret",
].join("|");

// A key (not part of a longer name), an optional closing quote (plain or JSON-escaped), a separator
// (`=`, `:`, Go's `map[key:[value]]`), then the value: quoted, escaped-quoted, or bare up to a
// delimiter, including an auth scheme such as `Bearer`. A quote cut short by truncation runs to the end.
const PARAM = new RegExp(
  `(^|[^a-z0-9_-])(${KEYS})(\\\\?["']?\\s*[=:]\\s*\\[?\\s*)` +
    `(?:"((?:[^"\\\\]|\\\\.)*)(?:"|$)|'([^']*)(?:'|$)|\\\\"((?:[^"\\\\]|\\\\[^"])*)\\\\"|` +
    `((?:(?:bearer|basic|digest|token)\\s+)?[^\\s"'\\\\&,;\\])}]+))`,
  "gi",
);

/**
 * `text` with URL passwords and the values of secret-bearing parameters, headers and fields
 * (`authorization`, `token`, `X-Consul-Token`, `password`, ...) replaced by `***`.
 */
export function redact(text: string): string {
  return text
    .replace(USERINFO, (match: string, before: string, scheme = "", userinfo: string) => {
      const colon = userinfo.indexOf(":");
      return colon === -1 ? match : `${before}${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`;
    })
    .replace(
      PARAM,
      (_, before: string, key: string, sep: string, dq?: string, sq?: string, escaped?: string) => {
        const value = dq !== undefined
          ? `"${REDACTED}"`
          : sq !== undefined
          ? `'${REDACTED}'`
          : escaped !== undefined
          ? `\\"${REDACTED}\\"`
          : REDACTED;
        return `${before}${key}${sep}${value}`;
      },
    );
}

/** `value` redacted and quoted as a JSON string, for messages. */
export function quote(value: string): string {
  return JSON.stringify(redact(value));
}
