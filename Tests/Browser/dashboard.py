#!/usr/bin/python3
"""Drives headless Chromium (Debian's chromium) through `schedctl dashboard`, over the Chrome
DevTools Protocol (Debian's python3-websockets).

    dashboard.py URL JOB SCREENSHOT_DIR
    dashboard.py --measure URL

Opens URL (the address schedctl printed, with its token), waits for the job list, clicks
"run" on JOB, waits for the run to succeed, opens the run's page and reads its output, opens
the timeline; saves a screenshot of each view in SCREENSHOT_DIR and prints what it saw as JSON:
{"jobs": [...], "first_paint_ms": N, "list_ms": N, "output": "...", "timeline_bars": N,
"status": "...", "next": {JOB: its "next" column}}.
"""
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page:
    def __init__(self, connection):
        self.connection = connection
        self.next_id = 0

    async def call(self, method, params=None):
        self.next_id += 1
        ident = self.next_id
        await self.connection.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        while True:
            message = json.loads(await asyncio.wait_for(self.connection.recv(), 30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.evaluate(expression):
                return
            await asyncio.sleep(0.1)
        body = await self.evaluate("document.body.innerText")
        raise RuntimeError(f"timed out waiting for {what}; the page says:\n{body}")

    async def screenshot(self, path):
        shot = await self.call("Page.captureScreenshot", {"format": "png"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))


async def drive(url, job, shots, measure_only=False):
    port = free_port()
    profile = tempfile.mkdtemp(prefix="schedd-chromium-")
    chrome = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1280,800",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        targets = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if not targets:
            raise RuntimeError("chromium did not start")
        async with websockets.connect(targets[0]["webSocketDebuggerUrl"], max_size=64 << 20) as connection:
            page = Page(connection)
            await page.call("Page.enable")
            await page.call("Runtime.enable")
            await page.call("Page.navigate", {"url": url})
            await page.wait_for("document.querySelectorAll('#jobs tbody tr').length > 0", "the job list")
            # The page's own clock: from the start of the navigation (the redirect included)
            # until the list was on the page.
            list_ms = await page.evaluate("(performance.getEntriesByName('first-view')[0] || {startTime: -1}).startTime")
            first_paint = await page.evaluate(
                "(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime")
            jobs = await page.evaluate("[...document.querySelectorAll('#jobs tbody tr')].map(r => r.dataset.job)")
            if measure_only:
                return {"jobs": len(jobs), "first_paint_ms": first_paint, "list_ms": list_ms}
            await page.wait_for("document.getElementById('status').textContent.startsWith('schedd ')", "the status line")
            status = await page.evaluate("document.getElementById('status').textContent")
            next_column = await page.evaluate(
                "Object.fromEntries([...document.querySelectorAll('#jobs tbody tr')].map(r => [r.dataset.job, r.children[3].textContent]))")
            await page.wait_for("document.querySelectorAll('#jobs svg.spark').length > 0 || !document.querySelector('#jobs a[href^=\\'#run/\\']')",
                                "the sparklines")
            await page.screenshot(os.path.join(shots, "dashboard-jobs.png"))

            row = f"document.querySelector('tr[data-job={json.dumps(job)}]')"
            await page.evaluate(f"{row}.querySelector('button[data-do=run]').click()")
            # The list shows the run's end at its next refresh (every 10 s).
            await page.wait_for(f"{row} && {row}.querySelector('td.result').textContent.trim() === 'succeeded'",
                                "the run to succeed", timeout=40)
            await page.evaluate(f"location.hash = {row}.querySelector('td:nth-child(5) a').getAttribute('href')")
            await page.wait_for("document.getElementById('output') && document.getElementById('output').textContent.length > 0",
                                "the run's output")
            output = await page.evaluate("document.getElementById('output').textContent")
            await page.screenshot(os.path.join(shots, "dashboard-run.png"))

            await page.evaluate("location.hash = '#timeline'")
            await page.wait_for("document.querySelectorAll('#timeline rect').length > 0", "the timeline")
            bars = await page.evaluate("document.querySelectorAll('#timeline rect').length")
            await page.screenshot(os.path.join(shots, "dashboard-timeline.png"))
            return {"jobs": jobs, "first_paint_ms": first_paint, "list_ms": list_ms, "output": output, "timeline_bars": bars,
                    "status": status, "next": next_column}
    finally:
        chrome.kill()
        chrome.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1] == "--measure":
        # The time from navigation until the job list is on the page, for the benchmark.
        print(json.dumps(asyncio.run(drive(sys.argv[2], None, None, measure_only=True))))
    else:
        print(json.dumps(asyncio.run(drive(sys.argv[1], sys.argv[2], sys.argv[3]))))
