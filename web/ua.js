// A short human description of a User-Agent string ("Chrome on Linux", "Safari on iPhone").
// The string comes from whoever signed in (attacker-controlled): callers put the result in the
// page with textContent only.

const BROWSERS = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bVivaldi\//, 'Vivaldi'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bHeadlessChrome\//, 'Headless Chrome'],
  [/\bChrom(?:e|ium)\/|\bCriOS\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/^curl\//, 'curl'],
  [/^Wget\//i, 'Wget'],
  [/^python-requests\/|^Python-urllib\/|^python-httpx\/|^aiohttp\//i, 'Python'],
  [/^(?:node|undici|node-fetch|axios)\b/i, 'Node.js'],
  [/^Go-http-client\//, 'Go'],
  [/^okhttp\//i, 'OkHttp'],
  [/^PostmanRuntime\//, 'Postman'],
  [/^tessera\b/i, 'tessera'],
];

const SYSTEMS = [
  [/\biPhone\b|\biPod\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bAndroid\b/, 'Android'],
  [/\bWindows\b/, 'Windows'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bFreeBSD\b/, 'FreeBSD'],
  [/\bLinux\b/, 'Linux'],
];

function first(table, ua) {
  for (const [pattern, name] of table) if (pattern.test(ua)) return name;
  return null;
}

// { label, mobile }: `mobile` is true for phones and tablets.
export function describeUserAgent(userAgent) {
  const ua = typeof userAgent === 'string' ? userAgent.slice(0, 512) : '';
  if (!ua.trim()) return { label: 'Unknown device', mobile: false };
  const browser = first(BROWSERS, ua);
  const system = first(SYSTEMS, ua);
  const mobile = /Mobi|iPhone|iPod|iPad|Android/.test(ua);
  if (browser && system) return { label: `${browser} on ${system}`, mobile };
  if (browser || system) return { label: browser || system, mobile };
  // Unknown: the product name it starts with, kept short.
  const product = ua.trim().split(/[\s/;(]/, 1)[0].slice(0, 40);
  return { label: product || 'Unknown device', mobile };
}
