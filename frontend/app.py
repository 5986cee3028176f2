"""The collector's page, for ``streamlit run frontend/app.py`` from the repository root.

The page's code lives in the package (``amulet_ai/frontend/app.py``), so that an installed
package serves it too (``amulet-ai frontend``); this entry hands that page to Streamlit.
"""

import streamlit as st

from amulet_ai.frontend import PAGE_FILE

st.navigation([st.Page(PAGE_FILE, default=True)], position="hidden").run()
