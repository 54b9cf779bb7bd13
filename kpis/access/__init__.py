"""Who is acting and what their role allows."""
