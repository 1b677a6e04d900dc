// node shot.js URL OUT.png [TOKEN]  -- headless Debian chromium, optional dashboard token cookie
const { chromium } = require('playwright-core');
(async () => {
  const [url, out, token] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'] });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  if (token) {
    const u = new URL(url);
    await context.addCookies([{ name: 'ray-authentication-token', value: token,
                                domain: u.hostname, path: '/' }]);
  }
  const page = await context.newPage();
  const errors = [];
  page.on('requestfailed', r => errors.push(r.url()));
  await page.goto(url, { waitUntil: 'networkidle', timeout: 60000 });
  await page.waitForTimeout(3000);
  await page.screenshot({ path: out, fullPage: !token });
  console.log('title:', await page.title(), 'failed requests:', errors.length);
  await browser.close();
})();
