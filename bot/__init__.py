"""centerbot's web side: the Flask app, WeChat transport, storage, worker, CLI, console and page templates."""


def create_app(*args, **kwargs):
    """The app factory (`gunicorn 'bot:create_app()'`); see bot.app."""
    from bot.app import create_app as factory

    return factory(*args, **kwargs)
