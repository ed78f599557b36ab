// The plotly.js the dashboard needs: the core (scatter, shapes, annotations, legend, hover, modebar)
// plus scattergl. A third of the full bundle, so a first visit evaluates far less script.
var Plotly = require("plotly.js/lib/core");
Plotly.register([require("plotly.js/lib/scattergl")]);
module.exports = Plotly;
