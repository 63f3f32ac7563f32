/// The dashboard's only style sheet and script, served from the coordinator itself (nothing is fetched from the
/// network at run time, and the content security policy allows nothing else).
enum DashboardAssets {
    static let css = """
        :root { --ok: #1b7f3b; --warn: #a86400; --bad: #b3261e; --muted: #667; --line: #d8dbe2; --bg: #f6f7f9; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1c1e24; background: var(--bg); }
        header.top { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.5rem; background: #1f2a3d; color: #fff; }
        header.top a { color: #cfe0ff; text-decoration: none; }
        header.top a.brand { color: #fff; font-weight: 700; letter-spacing: .02em; }
        header.top nav { display: flex; gap: 1rem; flex: 1; }
        header.top nav a[aria-current] { color: #fff; border-bottom: 2px solid #7fb0ff; }
        form.viewer { display: flex; gap: .5rem; align-items: center; margin: 0; }
        main { padding: 1rem 1.5rem 3rem; max-width: 1400px; }
        h1 { font-size: 1.4rem; margin: .4rem 0 .8rem; overflow-wrap: anywhere; }
        h2 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        thead th { background: #eef0f4; font-weight: 600; }
        td a, p a { color: #174ea6; }
        .path { font-family: ui-monospace, monospace; font-size: 12px; overflow-wrap: anywhere; }
        code, .code { font-family: ui-monospace, monospace; font-size: 12px; }
        .as-of, .hint, footer { color: var(--muted); }
        footer { padding: 1rem 1.5rem; font-size: 12px; }
        .counts { display: flex; gap: .8rem; flex-wrap: wrap; }
        .count { display: block; padding: .6rem 1rem; background: #fff; border: 1px solid var(--line); border-radius: 6px; color: inherit; text-decoration: none; }
        .count strong { font-size: 1.4rem; display: block; }
        .count.critical strong { color: var(--bad); } .count.warning strong { color: var(--warn); } .count.ok strong { color: var(--ok); }
        .badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: 12px; background: #e8eaef; }
        .badge.critical { background: #fbe2df; color: var(--bad); } .badge.warning { background: #fdf0d9; color: var(--warn); }
        .state { font-weight: 600; } .state-up { color: var(--ok); } .state-down, .state-fenced { color: var(--bad); }
        .state-draining, .state-isolated, .state-quarantined { color: var(--warn); }
        .kind-shared { color: var(--ok); } .kind-local { color: var(--warn); }
        table.matrix td.cell { text-align: center; width: 3rem; }
        .cell.yes { background: #dff3e4; color: var(--ok); } .cell.listed { background: #fdf0d9; color: var(--warn); }
        .cell.no { color: #bbb; }
        tr.stranded td:first-child { border-left: 3px solid var(--bad); }
        .risks li, .reasons li { margin: .2rem 0; }
        .risk.critical .code { color: var(--bad); } .risk.warning .code { color: var(--warn); }
        .ok { color: var(--ok); } .error { color: var(--bad); }
        .facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
        .facts dt { color: var(--muted); } .facts dd { margin: 0; }
        ul.tree, ul.tree ul { list-style: none; padding-left: 1.2rem; border-left: 1px dashed var(--line); }
        .snapshot { font-weight: 600; }
        .chain { display: flex; gap: .8rem; align-items: center; margin: .4rem 0; flex-wrap: wrap; }
        .chain-label { min-width: 9rem; color: var(--muted); overflow-wrap: anywhere; }
        .chain ol { display: flex; gap: 0; list-style: none; margin: 0; padding: 0; flex-wrap: wrap; }
        .chain li + li { margin-left: 1.6rem; position: relative; }
        .chain li + li::before { content: "→"; position: absolute; left: -1.2rem; color: var(--muted); }
        .link { font-family: ui-monospace, monospace; font-size: 12px; padding: .1rem .4rem; border-radius: 3px; }
        .link.reach-all { background: #dff3e4; color: var(--ok); } .link.reach-some { background: #fdf0d9; color: var(--warn); }
        .link.reach-owner, .link.reach-none { background: #fbe2df; color: var(--bad); }
        tr.reach-owner, tr.reach-none { background: #fdf3f2; }
        tr.reach-all td:first-child { border-left: 3px solid var(--ok); }
        tr.reach-some td:first-child { border-left: 3px solid var(--warn); }
        tr.reach-owner td:first-child, tr.reach-none td:first-child { border-left: 3px solid var(--bad); }
        .node { display: inline-block; padding: 0 .35rem; border-radius: 3px; font-size: 12px; }
        .node.yes { background: #dff3e4; color: var(--ok); } .node.no { background: #eee; color: #999; text-decoration: line-through; }
        .highlight { outline: 2px solid #7fb0ff; }
        form.filters, form.action, form.login { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; margin: .5rem 0 1rem; }
        label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: .2rem; }
        input, select, button { font: inherit; padding: .3rem .5rem; }
        button.primary { background: #174ea6; color: #fff; border: 0; border-radius: 4px; padding: .4rem .9rem; }
        .verdict { padding: .6rem 1rem; border-radius: 6px; background: #fff; border: 1px solid var(--line); }
        .verdict.ok { border-color: var(--ok); } .verdict.critical { border-color: var(--bad); color: var(--bad); }
        .pager { display: flex; gap: 1rem; margin: .5rem 0; color: var(--muted); }
        """

    /// Three links of a chain.
    static let favicon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><g fill="none" stroke="#1f2a3d" stroke-width="4">\
        <rect x="2" y="11" width="12" height="10" rx="5"/><rect x="10" y="11" width="12" height="10" rx="5"/>\
        <rect x="18" y="11" width="12" height="10" rx="5"/></g></svg>
        """

    static let javascript = """
        "use strict";
        // Filters apply as soon as a choice changes.
        document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
          select.addEventListener("change", function () { if (select.form) { select.form.submit(); } });
        });
        // Pointing at a file of a chain highlights it in the file table, and the other way round.
        function mark(path, on) {
          document.querySelectorAll("[data-path]").forEach(function (element) {
            if (element.getAttribute("data-path") === path) { element.classList.toggle("highlight", on); }
          });
        }
        document.querySelectorAll("[data-path]").forEach(function (element) {
          var path = element.getAttribute("data-path");
          element.addEventListener("mouseenter", function () { mark(path, true); });
          element.addEventListener("mouseleave", function () { mark(path, false); });
        });
        // Times are written in UTC by the server; show them in the browser's time zone too.
        document.querySelectorAll("time[datetime]").forEach(function (element) {
          var when = new Date(element.getAttribute("datetime"));
          if (!isNaN(when.getTime())) { element.title = when.toLocaleString(); }
        });
        """
}
