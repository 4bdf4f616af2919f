"""A real browser for the stack's checks: Debian's Chromium, headless, driven
by Debian's chromium-driver through Selenium (nothing is downloaded at run
time). Each Browser is a fresh profile (no cache, no cookies), so its first
page load is a user's first visit.

What a user would see is read from the page itself: the DOM (waited on, never
slept on), the console's errors, and every stylesheet and script the page
asked for with the HTTP status the browser got for it."""

from __future__ import annotations

import os
import shutil
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get('ODOO_SCALE_CHROMIUM', '/usr/bin/chromium')
CHROMEDRIVER = os.environ.get('ODOO_SCALE_CHROMEDRIVER', '/usr/bin/chromedriver')
# How long a page may take to show what it must: a bound on waiting for a
# failure to be declared, generous for a loaded 2-core machine; never a
# performance assertion (the figures go to bench/results).
WAIT = 120

# Every resource the page fetched, with the status the browser saw (0 when it
# got none: a network error such as ERR_TOO_MANY_REDIRECTS), and every
# <link rel=stylesheet> whose sheet did not load.
_RESOURCES_JS = '''
return {
  resources: performance.getEntriesByType('resource').map(function (e) {
    return {name: e.name, type: e.initiatorType, status: e.responseStatus};
  }),
  unloaded_css: Array.from(document.querySelectorAll('link[rel=stylesheet]'))
    .filter(function (l) { return !l.sheet; }).map(function (l) { return l.href; })
};
'''


class Browser:
    """One headless Chromium with its own throw-away profile."""

    def __init__(self, base_url, shots_dir=None):
        self.base = base_url.rstrip('/')
        self.shots_dir = shots_dir
        self.profile = tempfile.mkdtemp(prefix='odoo-scale-chromium-')
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                    '--disable-quic', '--no-first-run', '--disable-background-networking',
                    '--disable-component-update', '--disable-sync', '--window-size=1400,900',
                    '--user-data-dir=%s' % self.profile):
            opts.add_argument(arg)
        opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(WAIT)
        self.driver.set_script_timeout(WAIT)

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- reading the page ---------------------------------------------------

    def wait_css(self, selector, timeout=WAIT):
        return WebDriverWait(self.driver, timeout).until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, selector)),
            'no visible %s on %s' % (selector, self.driver.current_url))

    def wait_text(self, selector, text, timeout=WAIT):
        WebDriverWait(self.driver, timeout).until(
            ec.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text),
            'no %s holding %r on %s' % (selector, text, self.driver.current_url))

    def console_errors(self):
        """The console's SEVERE entries since the last call."""
        return [e['message'] for e in self.driver.get_log('browser') if e.get('level') == 'SEVERE']

    def asset_problems(self):
        """Stylesheets and scripts that did not load: (url, status) pairs,
        plus each <link rel=stylesheet> without a sheet."""
        seen = self.driver.execute_script(_RESOURCES_JS)
        bad = [(r['name'], r['status']) for r in seen['resources']
               if r['type'] in ('link', 'script', 'css') and not 200 <= (r['status'] or 0) < 300]
        return bad + [(href, 'stylesheet not applied') for href in seen['unloaded_css']]

    def asset_urls(self):
        seen = self.driver.execute_script(_RESOURCES_JS)
        return [r['name'] for r in seen['resources'] if '/web/assets/' in r['name']]

    def shot(self, name):
        if not self.shots_dir:
            return None
        os.makedirs(self.shots_dir, exist_ok=True)
        path = os.path.join(self.shots_dir, name + '.png')
        self.driver.save_screenshot(path)
        return path

    # -- Odoo ---------------------------------------------------------------

    def login(self, login, password, db=None, content=True):
        """Odoo's login page, filled in and sent as a person would; returns
        once the web client's navbar and its apps menu are on screen (and,
        with `content`, the home action's records: a user with no app has
        an empty home)."""
        self.driver.get(self.base + '/web/login' + ('?db=%s' % db if db else ''))
        self.wait_css('form.oe_login_form')
        self.driver.find_element(By.CSS_SELECTOR, 'input[name=login]').send_keys(login)
        self.driver.find_element(By.CSS_SELECTOR, 'input[name=password]').send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, 'form.oe_login_form button[type=submit]').click()
        return self.wait_web_client(content)

    def wait_web_client(self, content=True):
        """The navbar with its apps menu, and with `content` the action
        under it showing records (or its "nothing here" helper)."""
        self.wait_css('.o_main_navbar')
        menu = self.wait_css('.o_main_navbar .o_navbar_apps_menu')
        if content:
            self.wait_css(', '.join('.o_action_manager .o_content ' + s for s in (
                '.o_kanban_record', '.o_data_row', '.o_view_nocontent', '.o_form_sheet')))
        return menu

    def styled(self, selector='.o_main_navbar'):
        """True when the web client's stylesheet applies: Odoo's CSS lays the
        navbar out as a flex row; unstyled it is a plain block."""
        return self.driver.execute_script(
            'var e = document.querySelector(arguments[0]); return e && getComputedStyle(e).display;',
            selector) == 'flex'

    def rpc(self, path, params):
        """A JSON-RPC call made by the page (its session cookie, its origin)."""
        return self.driver.execute_async_script('''
            var done = arguments[arguments.length - 1];
            fetch(arguments[0], {method: 'POST', headers: {'Content-Type': 'application/json'},
                                 body: JSON.stringify({jsonrpc: '2.0', method: 'call', params: arguments[1], id: 1})})
              .then(function (r) { return r.json(); })
              .then(function (b) { done(b); }, function (e) { done({error: String(e)}); });
        ''', path, params)


def first_visit(base_url, password, shots_dir, shot):
    """A fresh browser logs in as admin through `base_url`: the web client
    renders styled, every asset answers 2xx and the console holds no error.
    Returns the /web/assets/ URLs the page loaded."""
    with Browser(base_url, shots_dir) as b:
        b.login('admin', password)
        problems, errors = b.asset_problems(), b.console_errors()
        path = b.shot(shot)
        assert not problems, problems
        assert not errors, errors
        assert b.styled(), 'the web client rendered without its stylesheet (see %s)' % path
        return b.asset_urls()
