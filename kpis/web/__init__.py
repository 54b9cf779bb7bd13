"""How the app is served: the middleware app.py gives Streamlit's st.App (`streamlit run app.py`)."""
