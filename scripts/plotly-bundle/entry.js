// The plotly.js the dashboard needs: the core (scatter, shapes, annotations, legend, hover, modebar)
// plus scattergl and parcoords (the search page's parallel coordinates, brushed to filter the table).
// Far less than the full bundle, so a first visit evaluates far less script.
var Plotly = require("plotly.js/lib/core");
Plotly.register([require("plotly.js/lib/scattergl"), require("plotly.js/lib/parcoords")]);
module.exports = Plotly;
