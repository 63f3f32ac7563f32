extension DashboardTemplates {
    /// Shared parts: the page head with navigation and the viewer, the foot, reasons, pagination.
    static let layout: [String: String] = [
        "head": """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{frame.title}} · Chainkeeper</title>
        <link rel="icon" href="/ui/static/favicon.svg">
        <link rel="stylesheet" href="/ui/static/dashboard.css">
        <script src="/ui/static/dashboard.js" defer></script>
        </head>
        <body>
        <header class="top">
        <a class="brand" href="/ui">Chainkeeper</a>
        <nav>
        {{#frame.nav}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/frame.nav}}
        </nav>
        {{#frame.viewer}}
        <form class="viewer" method="post" action="/ui/logout">
        <span>{{name}}</span>
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#canLogOut}}<button type="submit">Log out</button>{{/canLogOut}}
        </form>
        {{/frame.viewer}}
        </header>
        <main>
        <h1>{{frame.heading}}</h1>
        {{#frame.asOf}}<p class="as-of">Cluster state as of <time>{{frame.asOf}}</time>.\
        {{#frame.refreshing}} It has changed since; a fresh audit is being made, reload in a moment.{{/frame.refreshing}}</p>\
        {{/frame.asOf}}
        """,
        "foot": """
        </main>
        <footer>Chainkeeper · the coordinator's dashboard</footer>
        </body>
        </html>
        """,
        "reasons": """
        <ul class="reasons">
        {{#reasons}}
        <li><code class="code">{{code}}</code> {{message}}{{#path}}<br><span class="path">{{path}}</span>{{/path}}\
        {{#volume}} <span class="volume">on {{volume}}</span>{{/volume}}</li>
        {{/reasons}}
        </ul>
        """,
        "pager": """
        {{#pager}}
        <nav class="pager" aria-label="pages">
        <span>{{summary}}</span>
        {{#previous}}<a rel="prev" href="{{previous}}">← previous</a>{{/previous}}
        {{#next}}<a rel="next" href="{{next}}">next →</a>{{/next}}
        </nav>
        {{/pager}}
        """,
    ]
}
