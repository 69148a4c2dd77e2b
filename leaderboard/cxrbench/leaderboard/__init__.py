"""The Streamlit leaderboard and the store of published result records."""
