"""centerbot's web side: the Flask app, WeChat transport, storage, CLI and reply templates."""


def create_app(*args, **kwargs):
    """The app factory (`gunicorn 'bot:create_app()'`); see bot.app."""
    from bot.app import create_app as factory

    return factory(*args, **kwargs)
